"""Overall ingest progress, printed by the executor while Beam workers run elsewhere.

Workers may be other processes or other machines, so they cannot share a counter.
Each finished item leaves a small JSON file in a progress folder (any filesystem
``tf.io.gfile`` reaches, so a bucket works too), and a thread in the executor lists
the folder and prints files done/total, frames, faces, failures, elapsed and ETA.
"""
import json
import os
import sys
import threading
import time
from typing import Callable, Dict, Iterable, Optional

import tensorflow as tf

_COUNTS = ('sampled', 'faces', 'no_face')


def record(progress_dir: str, row: int, stats: dict) -> None:
  """Called by a worker when an item is done: its counts, keyed by manifest row."""
  with tf.io.gfile.GFile(os.path.join(progress_dir, f'{row}.json'), 'w') as f:
    json.dump({k: stats[k] for k in _COUNTS} | {'failed': bool(stats['failure'])}, f)


def totals(records: Iterable[dict]) -> Dict[str, int]:
  out = dict.fromkeys(('files', 'failed') + _COUNTS, 0)
  for r in records:
    out['files'] += 1
    out['failed'] += r['failed']
    for k in _COUNTS:
      out[k] += r[k]
  return out


def _clock(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def format_progress(done: Dict[str, int], total_files: int, elapsed: float) -> str:
  """One progress line; the ETA assumes the remaining files take as long on average."""
  line = (f"[ingest] {done['files']}/{total_files} files, {done['sampled']} frames sampled, "
          f"{done['faces']} faces, {done['failed']} failed, {_clock(elapsed)} elapsed")
  if 0 < done['files'] < total_files:
    line += f", ETA {_clock(elapsed / done['files'] * (total_files - done['files']))}"
  return line


def read_records(progress_dir: str) -> list:
  records = []
  for path in tf.io.gfile.glob(os.path.join(progress_dir, '*.json')):
    try:
      with tf.io.gfile.GFile(path) as f:
        records.append(json.load(f))
    except (ValueError, tf.errors.OpError):
      continue  # a file still being written: counted at the next look
  return records


class ProgressReporter:
  """Prints a progress line every ``interval`` seconds when files finished since the
  last, and once more on exit. Use as a context manager around the Beam pipeline."""

  def __init__(self, progress_dir: str, total_files: int, interval: float = 10.0,
               write: Optional[Callable[[str], None]] = None):
    self._dir = progress_dir
    self._total = total_files
    self._interval = interval
    self._write = write or (lambda line: print(line, file=sys.stderr, flush=True))
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._loop, name='ingest-progress', daemon=True)
    self._start = 0.0
    self._last_files = -1

  def __enter__(self):
    tf.io.gfile.makedirs(self._dir)
    self._start = time.time()
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.report()
    tf.io.gfile.rmtree(self._dir)

  def report(self) -> None:
    """Print a line if files finished since the last one (or if none was printed)."""
    done = totals(read_records(self._dir))
    if done['files'] != self._last_files:
      self._last_files = done['files']
      self._write(format_progress(done, self._total, time.time() - self._start))

  def _loop(self):
    while not self._stop.wait(self._interval):
      self.report()
