"""Shared set-up for the benchmarks: the repository on sys.path, a timer, and real face
crops as gzip TFRecords for the trainer benchmarks."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')



def best_of(fn, repeats: int) -> float:
  """The fastest of ``repeats`` timed calls after one warm-up: the least disturbed by
  the other work on a shared machine."""
  return best_of_each([fn], repeats)[0]


def best_of_each(fns, repeats: int) -> list:
  """``best_of`` for several functions, called in turn within each repeat, so that a
  burst of other work on the machine slows all of them rather than only one."""
  for fn in fns:
    fn()
  best = [float('inf')] * len(fns)
  for _ in range(repeats):
    for i, fn in enumerate(fns):
      start = time.perf_counter()
      fn()
      best[i] = min(best[i], time.perf_counter() - start)
  return best


def write_face_records(path: str, n: int, crop_size: int = 224) -> list:
  """``n`` tf.Examples of astronaut face crops with labels 0..5; returns the JPEG bytes."""
  # Imported here so that the numpy-only benchmarks do not load TensorFlow.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from pipeline.demo.sample_data import Subject, render_frames  # pylint: disable=g-import-not-at-top
  from preprocessing import contract, faces  # pylint: disable=g-import-not-at-top
  jpegs = []
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(n):
      frame = next(render_frames(Subject(f'b{i}', i % 6, 'yfp', 'left', seed=i), 1))
      box = faces.detect_face(frame)
      jpeg = (faces.crop_face(frame, box, faces.CropSettings(size=crop_size)).jpeg if box
              else faces.encode_jpeg(frame, crop_size))
      jpegs.append(jpeg)
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
          contract.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 6])),
      })).SerializeToString())
  return jpegs
