"""``palsy-tfx leakage`` end to end on tiny sample data: two real local pipeline runs
(LocalDagRunner, multi-process Beam, dlib, TFMA), one split by frame and one by subject,
then the side-by-side comparison.

The leak itself is read from the examples written, not from any summary: the frame
split's test subjects are in its train split too, the subject split's never are.
"""
import contextlib
import glob
import io
import json
import os
import re

import pytest

from components.video_ingest import splits, summary
from pipeline.cli import main as cli
from pipeline.demo.sample_data import write_sample_data

pytestmark = pytest.mark.slow  # runs two pipelines

_FLOAT = r'(\d\.\d{3})'


@pytest.fixture(scope='module')
def leak(tmp_path_factory):
  base = tmp_path_factory.mktemp('leakage')
  data_dir = str(base / 'data')
  write_sample_data(data_dir, per_grade=3, seconds=1.6)
  output = str(base / 'out')
  stdout = io.StringIO()
  with contextlib.redirect_stdout(stdout):
    code = cli.main(['leakage', '--manifest', os.path.join(data_dir, 'manifest.csv'),
                     '--output', output, '--model', 'demo', '--image-size', '32',
                     '--ingest-image-size', '64', '--epochs', '5',
                     '--beam-arg=--direct_running_mode=multi_processing',
                     '--beam-arg=--direct_num_workers=2'])
  printed = stdout.getvalue()
  print(printed)  # shown by pytest when a test fails
  return {'code': code, 'printed': printed, 'output': output}


def _examples(output, split_by, split):
  """(subject_id, video_id, timestamp_ms) of every example in one split of one run."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = glob.glob(os.path.join(output, f'{split_by}_split', 'VideoIngest', 'examples', '*',
                                 f'Split-{split}', '*.gz'))
  assert files, (split_by, split)
  out = []
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
    feature = tf.train.Example.FromString(record.numpy()).features.feature
    out.append((feature['subject_id'].bytes_list.value[0].decode(),
                feature['video_id'].bytes_list.value[0].decode(),
                feature['timestamp_ms'].int64_list.value[0]))
  return out


def test_the_command_prints_both_columns_at_frame_and_subject_level(leak):
  assert leak['code'] == 0
  printed = leak['printed']
  assert re.search(r'^ +frame split +subject split +difference$', printed, re.M)
  for row in ('frame exact accuracy', 'frame balanced accuracy'):
    assert re.search(rf'^  {row} +{_FLOAT} +{_FLOAT} +[+-]{_FLOAT}$', printed, re.M), row
  ci = rf'{_FLOAT} \[\d\.\d\d, \d\.\d\d\]'
  for row in ('subject exact accuracy', 'subject within one grade'):
    assert re.search(rf'^  {row} +{ci} +{ci} +[+-]{_FLOAT}$', printed, re.M), row
  # The frame-split run's own report carries the warning; the subject split's does not.
  assert printed.count(summary.FRAME_SPLIT_WARNING) == 1


def test_the_frame_split_leaks_subjects_and_the_subject_split_does_not(leak):
  output = leak['output']
  frame_train = {s for s, _, _ in _examples(output, 'frame', 'train')}
  frame_test = _examples(output, 'frame', 'test')
  assert {s for s, _, _ in frame_test} & frame_train
  subject_train = {s for s, _, _ in _examples(output, 'subject', 'train')}
  subject_eval = {s for s, _, _ in _examples(output, 'subject', 'eval')}
  subject_test = {s for s, _, _ in _examples(output, 'subject', 'test')}
  assert not subject_test & (subject_train | subject_eval)
  # Every frame sits where splits.frame_split puts its video id and timestamp.
  for split in splits.SPLIT_NAMES:
    for _, video_id, timestamp in _examples(output, 'frame', split):
      assert splits.frame_split(video_id, timestamp) == split


def test_json_and_plot_are_written_and_agree_with_the_examples(leak):
  output = leak['output']
  with open(os.path.join(output, 'leakage.json')) as f:
    written = json.load(f)
  counts = written['counts']
  for split_by in ('frame', 'subject'):
    test = _examples(output, split_by, 'test')
    assert counts['test frames'][f'{split_by}_split'] == len(test)
    assert counts['test subjects'][f'{split_by}_split'] == len({s for s, _, _ in test})
  assert counts['test subjects also in train']['subject_split'] == 0
  assert counts['test subjects also in train']['frame_split'] > 0
  for row in written['rows']:
    assert row['frame_split']['value'] is not None and row['subject_split']['value'] is not None
  assert os.path.getsize(os.path.join(output, 'leakage.png')) > 10000


def test_neither_run_pushes_a_model(leak):
  for split_by in ('frame', 'subject'):
    root = os.path.join(leak['output'], f'{split_by}_split')
    assert os.path.isdir(os.path.join(root, 'Evaluator'))
    assert not os.path.exists(os.path.join(root, 'Pusher'))
    assert not os.path.exists(os.path.join(root, 'serving'))


def test_each_run_leaves_an_evidence_report_and_the_frame_splits_is_marked(leak, capsys):
  for split_by in ('frame', 'subject'):
    root = os.path.join(leak['output'], f'{split_by}_split')
    assert cli.main(['report', '--pipeline-root', root]) == 0
    path, *headline = capsys.readouterr().out.splitlines()
    with open(path) as f:
      page = f.read()
    marked = split_by == 'frame'
    assert (summary.FRAME_SPLIT_WARNING in headline[0]) == marked, headline
    assert ('split by FRAME' in page) == marked
    assert 'Not pushed for serving.' in page
