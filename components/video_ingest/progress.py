"""Overall ingest progress, printed by the executor while Beam workers run elsewhere.

Workers may be other processes or other machines, so they cannot share a counter. Each
DoFn instance (one per worker thread) keeps its own running totals (``Tally``) and
rewrites one small JSON file with them, at most every ``FLUSH_S`` seconds and at the end
of each bundle, in a progress folder (any filesystem ``tf.io.gfile`` reaches, so a bucket
works too). A thread in the executor reads those files and prints files done/total,
frames, faces, failures, elapsed and ETA.

So a report reads one file per worker, whatever the cohort: a file per finished item
would make each report read every item finished so far, and the reads of a run grow with
the square of the cohort. A segment of a long video counts as its share of the file.
"""
import json
import os
import sys
import threading
import time
import uuid
from typing import Callable, Dict, Iterable, Optional

import apache_beam as beam
import tensorflow as tf

from preprocessing import logs

_COUNTS = ('sampled', 'faces', 'no_face')
FLUSH_S = 5.0


class Tally:
  """One DoFn instance's running totals, written to its own file in ``progress_dir``
  (no file when ``progress_dir`` is None)."""

  def __init__(self, progress_dir: Optional[str], flush_s: float = FLUSH_S):
    self._path = (os.path.join(progress_dir, f'{uuid.uuid4().hex}.json')
                  if progress_dir else None)
    self._flush_s = flush_s
    self._last = 0.0
    self._dirty = False
    self.totals = dict.fromkeys(('files', 'failed') + _COUNTS, 0)

  def add(self, stats: dict, fraction: float) -> None:
    """Count a finished item or segment (``fraction`` of its file) and its stats."""
    self.totals['files'] += fraction
    self.totals['failed'] += bool(stats['failure'])
    for k in _COUNTS:
      self.totals[k] += stats[k]
    self._dirty = True
    if time.time() - self._last >= self._flush_s:
      self.flush()

  def flush(self) -> None:
    if not (self._path and self._dirty):
      return
    with tf.io.gfile.GFile(self._path, 'w') as f:
      json.dump(self.totals, f)
    self._dirty = False
    self._last = time.time()



class TallyingDoFn(beam.DoFn):
  """A DoFn whose items are files read on workers, with a retry's back-off and its own
  ``Tally``: ingest's ``ExtractFaces`` and grade-archive's ``CropFile``. The tally is made
  in ``setup``, on the worker, and flushed at the end of every bundle."""

  def __init__(self, progress_dir: Optional[str], backoff_s: float):
    self._progress_dir = progress_dir
    self._backoff_s = backoff_s
    self._tally = None

  def setup(self):
    logs.configure_libraries()  # a worker process imports the libraries anew
    self._tally = Tally(self._progress_dir)

  def finish_bundle(self):
    self._tally.flush()

def totals(records: Iterable[dict]) -> Dict[str, float]:
  out = dict.fromkeys(('files', 'failed') + _COUNTS, 0)
  for r in records:
    for k in out:
      out[k] += r[k]
  return out


def _clock(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def format_progress(done: Dict[str, float], total_files: int, elapsed: float,
                    name: str = 'ingest') -> str:
  """One progress line; the ETA assumes the remaining files take as long on average.
  ``name``: the command whose work it counts."""
  files = int(round(done['files'], 6))  # a file counts once all its segments are done
  line = (f"[{name}] {files}/{total_files} files, {done['sampled']} frames sampled, "
          f"{done['faces']} faces, {done['failed']} failed, {_clock(elapsed)} elapsed")
  if 0 < done['files'] < total_files:
    line += f", ETA {_clock(elapsed / done['files'] * (total_files - done['files']))}"
  return line


def read_records(progress_dir: str) -> list:
  """Every worker's latest totals: one file each."""
  records = []
  for path in tf.io.gfile.glob(os.path.join(progress_dir, '*.json')):
    try:
      with tf.io.gfile.GFile(path) as f:
        records.append(json.load(f))
    except (ValueError, tf.errors.OpError):
      continue  # a file being rewritten: counted at the next look
  return records


class ProgressReporter:
  """Prints a progress line every ``interval`` seconds when work finished since the
  last, and once more on exit. Use as a context manager around the Beam pipeline."""

  def __init__(self, progress_dir: str, total_files: int, interval: float = 10.0,
               write: Optional[Callable[[str], None]] = None, name: str = 'ingest'):
    self._dir = progress_dir
    self._name = name
    self._total = total_files
    self._interval = interval
    self._write = write or (lambda line: print(line, file=sys.stderr, flush=True))
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._loop, name=f'{name}-progress', daemon=True)
    self._start = 0.0
    self._last = None

  def __enter__(self):
    tf.io.gfile.makedirs(self._dir)
    self._start = time.time()
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.report()
    tf.io.gfile.rmtree(self._dir)  # one file per worker, not per item

  def report(self) -> None:
    """Print a line if work finished since the last one (or if none was printed)."""
    done = totals(read_records(self._dir))
    if done != self._last:
      self._last = done
      self._write(format_progress(done, self._total, time.time() - self._start, self._name))

  def _loop(self):
    while not self._stop.wait(self._interval):
      self.report()
