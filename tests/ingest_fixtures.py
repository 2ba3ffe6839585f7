"""A small dataset with one of every bad-input case beside good rows, and the reading
of what a local ingest made of it."""
import glob
import json
import os

import numpy as np
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.video_ingest import splits, summary
from preprocessing.media_writer import write_video
from tests.conftest import subject_frames, write_jpeg

# The five good subjects: #1 also owns cut.mkv ('mild') and so is graded mild by its
# most frequent grade (a tie, to the lower grade), like #2; #0 also owns the still
# ('Moderate'). Every grade then has enough subjects to reach test whatever the ids
# hash to: moderate 3 (#0 #3 #4: one per split), mild 2 (#1 #2: train and test).
GOOD_LABELS = ('IV', 'IV', 'III', 'IV', 'IV')
GOOD_SUBJECTS_PER_SPLIT = {'train': 2, 'eval': 1, 'test': 2}


def build(root: str, no_face_images) -> dict:
  """Write media and manifest.csv under ``root``; return what the test expects."""
  os.makedirs(os.path.join(root, 'media'), exist_ok=True)
  rows = [['path', 'subject_id', 'label', 'source', 'side']]
  expected_failures = {}
  good = [f'p{n:03d}' for n in range(len(GOOD_LABELS))]
  for n, (sid, label) in enumerate(zip(good, GOOD_LABELS)):
    rel = f'media/{sid}.mp4'
    write_video(os.path.join(root, rel), subject_frames(n % 6, 30, seed=n), fps=25)
    rows.append([rel, sid, label, ('meei', 'yfp')[n % 2], 'left'])
  write_jpeg(os.path.join(root, 'media/still.JPG'), subject_frames(3, 1, seed=99)[0])
  rows.append(['media/still.JPG', good[0], 'Moderate', 'ck', ''])

  # A video cut short: keeps the frames before the cut, and is reported.
  cut_frames = subject_frames(2, 75, seed=7)
  write_video(os.path.join(root, 'media/full.mkv'), cut_frames, fps=25, codec='mjpeg')
  data = open(os.path.join(root, 'media/full.mkv'), 'rb').read()
  os.remove(os.path.join(root, 'media/full.mkv'))
  with open(os.path.join(root, 'media/cut.mkv'), 'wb') as f:
    f.write(data[:len(data) // 2])
  rows.append(['media/cut.mkv', good[1], 'mild', 'meei', 'right'])
  expected_failures['media/cut.mkv'] = (len(rows), 'truncated')
  # An mp4 whose index is gone: nothing can be read.
  write_video(os.path.join(root, 'media/whole.mp4'), cut_frames[:25], fps=25)
  data = open(os.path.join(root, 'media/whole.mp4'), 'rb').read()
  os.remove(os.path.join(root, 'media/whole.mp4'))
  with open(os.path.join(root, 'media/corrupt.mp4'), 'wb') as f:
    f.write(data[:len(data) // 3])
  rows.append(['media/corrupt.mp4', 'bad1', 'I', 'meei', ''])
  expected_failures['media/corrupt.mp4'] = (len(rows), 'cannot open')
  open(os.path.join(root, 'media/zero.mp4'), 'wb').close()
  rows.append(['media/zero.mp4', 'bad2', 'I', 'meei', ''])
  expected_failures['media/zero.mp4'] = (len(rows), 'zero-byte')
  with open(os.path.join(root, 'media/notes.mp4'), 'w') as f:
    f.write('clinic notes, not a video\n' * 20)
  rows.append(['media/notes.mp4', 'bad3', 'I', 'meei', ''])
  expected_failures['media/notes.mp4'] = (len(rows), 'cannot open')
  rows.append(['media/missing.mp4', 'bad4', 'I', 'meei', ''])
  expected_failures['media/missing.mp4'] = (len(rows), 'file not found')
  coffee = [np.ascontiguousarray(no_face_images['coffee'][:240, :320])] * 10
  write_video(os.path.join(root, 'media/coffee.mp4'), coffee, fps=10)
  rows.append(['media/coffee.mp4', 'bad5', 'I', 'yfp', ''])
  expected_failures['media/coffee.mp4'] = (len(rows), 'no face found in any of')
  write_jpeg(os.path.join(root, 'media/chelsea.png'), no_face_images['chelsea'])
  rows.append(['media/chelsea.png', 'bad6', 'I', 'ck', ''])
  expected_failures['media/chelsea.png'] = (len(rows), 'no face found in the still')
  rows.append([f'media/{good[2]}.mp4', good[2], 'paralysed', 'meei', ''])
  expected_failures[f'media/{good[2]}.mp4#label'] = (len(rows), 'unknown label')
  rows.append([f'media/{good[3]}.mp4', '', 'I', 'meei', ''])
  expected_failures[f'media/{good[3]}.mp4#subject'] = (len(rows), 'empty subject_id')
  rows.append(rows[1])
  expected_failures[rows[1][0] + '#dup'] = (len(rows), 'duplicate of row 2')
  rows.append(['../escape.mp4', 'bad7', 'I', 'meei', ''])
  expected_failures['../escape.mp4'] = (len(rows), 'escapes the manifest folder')
  with open(os.path.join(root, 'media/clip.gif'), 'wb') as f:
    f.write(b'GIF89a')
  rows.append(['media/clip.gif', 'bad8', 'I', 'meei', ''])
  expected_failures['media/clip.gif'] = (len(rows), 'unsupported extension')

  with open(os.path.join(root, 'manifest.csv'), 'w') as f:
    f.write('\n'.join(','.join(r) for r in rows) + '\n')
  return {'manifest': os.path.join(root, 'manifest.csv'), 'good_subjects': good,
          'failures': expected_failures}


def examples_uri(metadata_path: str) -> str:
  """The URI of the one Examples artifact in a local run's SQLite MLMD."""
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  [examples] = metadata_store.MetadataStore(config).get_artifacts_by_type('Examples')
  return examples.uri


def read_split(uri: str, split: str) -> list:
  """The tf.Examples of one split of an Examples artifact (its files must exist)."""
  files = glob.glob(os.path.join(uri, f'Split-{split}', '*.gz'))
  assert files, f'no TFRecords for split {split}'
  return [tf.train.Example.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(files, compression_type='GZIP')]


def read_ingest(metadata_path: str):
  """A local ingest's tf.Examples per split, and its ingest summary."""
  uri = examples_uri(metadata_path)
  with open(os.path.join(uri, summary.SUMMARY_FILE)) as f:
    return {split: read_split(uri, split) for split in splits.SPLIT_NAMES}, json.load(f)
