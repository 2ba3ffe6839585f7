"""The per-file work of ingest: media -> face crops -> tf.Examples, with counts.

Lives in its own importable module because Beam's multi-processing runner pickles
the DoFn into worker processes, where ``__main__`` is not the same.
"""
import json
import sys
import time
from typing import Dict, Iterable, Iterator, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf

from components.video_ingest import progress, splits, work_list
from preprocessing import (contract, crop_settings, descriptors, face_frames, faces, frames, logs,
                           transient)
from preprocessing.labels import GRADES

STATS_TAG = 'stats'


def _bytes(v: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def _ints(*v: int) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(v)))


def _floats(*v: float) -> tf.train.Feature:
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(v)))


def make_example(found: face_frames.FaceFrame, work: work_list.Work) -> tf.train.Example:
  """The example contract (``preprocessing.contract``; ``found`` has a face), its
  descriptors by ``preprocessing.descriptors``, as predict computes them."""
  crop, frame = found.crop, found.frame
  seen = descriptors.of_frame(found)
  return tf.train.Example(features=tf.train.Features(feature={
      contract.IMAGE: _bytes(crop.jpeg),
      contract.LABEL: _ints(work.grade),
      contract.SUBJECT_ID: _bytes(work.subject.encode()),
      contract.VIDEO_ID: _bytes(work.video.encode()),
      contract.FRAME_INDEX: _ints(frame.index),
      contract.TIMESTAMP_MS: _ints(frame.timestamp_ms),
      contract.SOURCE: _bytes(work.source.encode()),
      contract.SIDE: _bytes(work.side.encode()),
      contract.FACE_BOX: _floats(*found.relative_box()),
      contract.FACE_SCORE: _floats(crop.box.score),
      contract.CROP_PADDED: _floats(crop.padded),
      **{key: _floats(seen[key]) for key in descriptors.FRAME_KEYS if key != contract.FACE_SCORE},
  }))


def without_path(reason: str, work: work_list.Work) -> str:
  """A failure's reason as the summary may keep it: FFmpeg names the file it could not
  read, and a path often carries a patient's name."""
  return reason.replace(work.path, f'<row {work.row}>')


def merge_stats(records: Iterable[str]) -> dict:
  """One file's stats from its segments' (JSON): counts added, the first failing
  segment's reason kept, and a video with no face in any segment named for it."""
  parts = sorted((json.loads(r) for r in records), key=lambda s: s['segment'])
  out = dict(parts[0])
  for key in ('sampled', 'faces', 'no_face', 'padded_crops', 'sure_passes'):
    out[key] = sum(p[key] for p in parts)
  faces_per_split = {}
  for p in parts:
    for split, n in p['faces_per_split'].items():
      faces_per_split[split] = faces_per_split.get(split, 0) + n
  out['faces_per_split'] = faces_per_split
  out['failure'] = next((p['failure'] for p in parts if p['failure']), None)
  if out['failure'] is None and out['faces'] == 0:
    out['failure'] = face_frames.no_face_reason(out['kind'], out['sampled'])
  times = [p for p in parts if p['started'] is not None]
  out['started'] = min((p['started'] for p in times), default=None)
  out['finished'] = max((p['finished'] for p in times), default=None)
  del out['segment']
  return out


def split_index(keyed_example: Tuple[str, bytes], num_partitions: int) -> int:
  """Partition function for ``(split, example)`` pairs; a module-level function so
  workers unpickle it without importing TFX."""
  del num_partitions
  return splits.SPLIT_NAMES.index(keyed_example[0])


class ExtractFaces(progress.TallyingDoFn):
  """Sample, detect, crop and encode one work item: a file, or one segment of a long
  video (``segments``).

  Main output: ``(split, serialized tf.Example)``. Tagged output ``stats``: ``(row,
  JSON)`` with the segment's counts and, when it failed, the reason (never the path;
  ``without_path``); ``merge_stats`` makes one file's record of them. A file that breaks
  part-way keeps the crops made before the break and is also reported.

  Each item's split comes with it (``work_list``), decided from the whole cohort before
  Beam starts. With ``split_by='frame'`` (the leakage demonstration only) each frame's
  split is ``splits.frame_split`` of its video id and timestamp over ``ratios``, so an
  item's crops spread over splits and its stats count them per split.

  A transient read fault (a timeout, a 5xx) restarts the segment, up to
  ``transient.RETRIES`` tries, and then fails the run naming the row: it is never
  recorded as a failed input (``transient`` says why). So the segment's examples are
  made in full before any is emitted, and a retry cannot duplicate them.
  """

  def __init__(self, source_fps: Dict[str, float], default_fps: float,
               crop: crop_settings.CropSettings, threaded: bool = False,
               progress_dir: Optional[str] = None, split_by: str = 'subject',
               ratios: Sequence[float] = splits.DEFAULT_RATIOS,
               backoff_s: float = transient.BACKOFF_S):
    super().__init__(progress_dir, backoff_s)
    self._record = crop_settings.CropRecord(crop, source_fps, default_fps)
    self._split_by = split_by
    self._ratios = list(ratios)
    self._threaded = threaded

  def _extract(self, work: work_list.Work) -> Tuple[list, dict]:
    """The segment's examples and stats. A bad file ends as a failure in the stats; a
    transient fault is raised, for ``process`` to try again from the start."""
    by_subject = self._split_by == 'subject'
    # By subject, the item's one split is listed even when it gives no face, so the
    # summary shows the empty grade where the test split expected it.
    faces_per_split = {work.split: 0} if by_subject else {}
    stats = {'row': work.row, 'video': work.video, 'kind': work.kind,
             'faces_per_split': faces_per_split, 'source': work.source,
             'label': GRADES[work.grade], 'subject': work.subject, 'segment': work.segment,
             'sampled': 0, 'faces': 0, 'no_face': 0, 'padded_crops': 0, 'failure': None}
    examples = []
    start = time.time()
    finder = faces.FaceFinder(self._record.crop.detect_width)
    try:
      for found in face_frames.face_frames(work.path, work.kind, self._record.fps(work.source),
                                           self._record.crop, self._threaded, finder,
                                           span=(work.start_s, work.end_s)):
        stats['sampled'] += 1
        if found.crop is None:
          stats['no_face'] += 1
          continue
        split = (work.split if by_subject else
                 splits.frame_split(work.video, found.frame.timestamp_ms, self._ratios))
        stats['faces'] += 1
        faces_per_split[split] = faces_per_split.get(split, 0) + 1
        stats['padded_crops'] += found.crop.padded > 0
        examples.append((split, make_example(found, work).SerializeToString()))
    except frames.MediaError as e:
      stats['failure'] = without_path(str(e), work)
    except Exception as e:  # pylint: disable=broad-except
      if transient.is_transient(e):
        raise
      # One unreadable file must not sink a run of hundreds of good ones.
      stats['failure'] = without_path(f'{type(e).__name__}: {e}', work)
    stats['sure_passes'] = finder.sure_runs
    stats['started'], stats['finished'] = start, time.time()
    return examples, stats

  def process(self, work: work_list.Work) -> Iterator[Tuple[str, bytes]]:
    examples, stats = transient.retry(
        lambda: self._extract(work), f'row {work.row} (video {work.video})',
        backoff_s=self._backoff_s)
    if logs.verbose():
      print(f'[ingest] {work.path} [{work.segment + 1}/{work.segments}]: '
            f'{stats["sampled"]} sampled, {stats["faces"]} faces'
            f'{", FAILED: " + stats["failure"] if stats["failure"] else ""} '
            f'({stats["finished"] - stats["started"]:.1f}s)', file=sys.stderr, flush=True)
    self._tally.add(stats, fraction=1.0 / work.segments)
    yield from examples
    yield beam.pvalue.TaggedOutput(STATS_TAG, (work.row, json.dumps(stats)))
