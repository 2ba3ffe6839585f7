"""Shared set-up for the trainer benchmarks: real face crops as gzip TFRecords."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # pylint: disable=g-import-not-at-top

from pipeline.sample_data import Subject, render_frames  # pylint: disable=g-import-not-at-top
from preprocessing import faces  # pylint: disable=g-import-not-at-top


def write_face_records(path: str, n: int, crop_size: int = 224) -> list:
  """``n`` tf.Examples of astronaut face crops with labels 0..5; returns the JPEG bytes."""
  jpegs = []
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(n):
      frame = next(render_frames(Subject(f'b{i}', i % 6, 'yfp', 'left', seed=i), 1))
      box = faces.detect_face(frame)
      jpeg = faces.encode_jpeg(faces.square_crop(frame, box) if box else frame, crop_size)
      jpegs.append(jpeg)
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
          'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 6])),
      })).SerializeToString())
  return jpegs
