"""The per-file work of ingest: media -> face crops -> tf.Examples, with counts.

Lives in its own importable module because Beam's multi-processing runner pickles
the DoFn into worker processes, where ``__main__`` is not the same.
"""
import json
import sys
import time
from typing import Dict, Iterator, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf

from components.video_ingest import progress, pseudonyms, splits
from components.video_ingest.manifest import Item
from preprocessing import contract, crop_settings, face_frames, faces, frames, logs
from preprocessing.labels import GRADES

STATS_TAG = 'stats'


def _bytes(v: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def _ints(*v: int) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(v)))


def _floats(*v: float) -> tf.train.Feature:
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(v)))


def make_example(found: face_frames.FaceFrame, item: Item, subject: str,
                 video_id: str) -> tf.train.Example:
  """The example contract (``preprocessing.contract``; ``found`` has a face)."""
  crop, frame = found.crop, found.frame
  return tf.train.Example(features=tf.train.Features(feature={
      contract.IMAGE: _bytes(crop.jpeg),
      contract.LABEL: _ints(item.grade),
      contract.SUBJECT_ID: _bytes(subject.encode()),
      contract.VIDEO_ID: _bytes(video_id.encode()),
      contract.FRAME_INDEX: _ints(frame.index),
      contract.TIMESTAMP_MS: _ints(frame.timestamp_ms),
      contract.SOURCE: _bytes(item.source.encode()),
      contract.SIDE: _bytes(item.side.encode()),
      contract.FACE_BOX: _floats(*found.relative_box()),
      contract.FACE_SCORE: _floats(crop.box.score),
      contract.CROP_PADDED: _floats(crop.padded),
  }))


def split_index(keyed_example: Tuple[str, bytes], num_partitions: int) -> int:
  """Partition function for ``(split, example)`` pairs; a module-level function so
  workers unpickle it without importing TFX."""
  del num_partitions
  return splits.SPLIT_NAMES.index(keyed_example[0])


class ExtractFaces(beam.DoFn):
  """Sample, detect, crop and encode one manifest item.

  Main output: ``(split, serialized tf.Example)``. Tagged output ``stats``: one dict
  per item with its counts and, when it failed, ``{path, reason}``. A file that
  breaks part-way keeps the crops made before the break and is also reported.

  ``split_of`` maps raw subject ids to splits. It is computed once from the whole
  manifest before Beam starts, because a stratified split depends on every subject
  of a grade, which no single item can see. With ``split_by='frame'`` (the leakage
  demonstration only) it is unused: each frame's split is ``splits.frame_split`` of
  its video id and timestamp over ``ratios``, so an item's crops spread over splits
  and its stats count them per split (``faces_per_split``).

  ``ids`` maps manifest rows to the item's pseudonyms (``pseudonyms.item_ids``),
  computed by the executor so that the pseudonym key never reaches a worker or the
  job graph (``pseudonyms`` says why).

  ``progress_dir``, when set, receives one small file per finished item, from which
  the executor prints overall progress while workers in other processes run.
  """

  def __init__(self, source_fps: Dict[str, float], default_fps: float,
               split_of: Dict[str, str], ids: Mapping[int, pseudonyms.Ids],
               crop: crop_settings.CropSettings,
               threaded: bool = False, progress_dir: Optional[str] = None,
               split_by: str = 'subject',
               ratios: Sequence[float] = splits.DEFAULT_RATIOS):
    self._record = crop_settings.CropRecord(crop, source_fps, default_fps)
    self._split_of = split_of
    self._split_by = split_by
    self._ratios = list(ratios)
    self._ids = dict(ids)
    self._threaded = threaded
    self._progress_dir = progress_dir

  def setup(self):
    logs.configure_libraries()  # a worker process imports the libraries anew

  def process(self, item: Item) -> Iterator[Tuple[str, bytes]]:
    subject, video = self._ids[item.row]
    by_subject = self._split_by == 'subject'
    # By subject, the item's one split is listed even when it gives no face, so the
    # summary shows the empty grade where the test split expected it.
    faces_per_split = {self._split_of[item.subject_id]: 0} if by_subject else {}
    stats = {'path': item.path, 'kind': item.kind, 'faces_per_split': faces_per_split,
             'source': item.source, 'label': GRADES[item.grade], 'subject': subject,
             'sampled': 0, 'faces': 0, 'no_face': 0, 'padded_crops': 0, 'failure': None}
    start = time.time()
    finder = faces.FaceFinder(self._record.crop.detect_width)
    try:
      for found in face_frames.face_frames(item.path, item.kind, self._record.fps(item.source),
                                           self._record.crop, self._threaded, finder):
        stats['sampled'] += 1
        if found.crop is None:
          stats['no_face'] += 1
          continue
        split = (self._split_of[item.subject_id] if by_subject else
                 splits.frame_split(video, found.frame.timestamp_ms, self._ratios))
        stats['faces'] += 1
        faces_per_split[split] = faces_per_split.get(split, 0) + 1
        stats['padded_crops'] += found.crop.padded > 0
        yield split, make_example(found, item, subject, video).SerializeToString()
      if stats['faces'] == 0:
        stats['failure'] = face_frames.no_face_reason(item.kind, stats['sampled'])
    except frames.MediaError as e:
      stats['failure'] = str(e)
    except Exception as e:  # pylint: disable=broad-except
      # One unreadable file must not sink a run of hundreds of good ones.
      stats['failure'] = f'{type(e).__name__}: {e}'
    stats['sure_passes'] = finder.sure_runs
    stats['started'], stats['finished'] = start, time.time()
    if logs.verbose():
      print(f'[ingest] {item.rel_path}: {stats["sampled"]} sampled, {stats["faces"]} faces'
            f'{", FAILED: " + stats["failure"] if stats["failure"] else ""} '
            f'({stats["finished"] - start:.1f}s)', file=sys.stderr, flush=True)
    if self._progress_dir:
      progress.record(self._progress_dir, item.row, stats)
    yield beam.pvalue.TaggedOutput(STATS_TAG, json.dumps(stats))
