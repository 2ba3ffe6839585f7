"""VideoIngest -> StatisticsGen -> SchemaGen -> ExampleValidator on a real LocalDagRunner.

Real Beam (multi-processing DirectRunner), real dlib, real SQLite MLMD; nothing mocked.
"""
import collections
import json
import os

import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.anomaly_gate import describe_anomalies
from components.video_ingest import pseudonyms, splits
from pipeline.options import DataOptions, RuntimeOptions
from pipeline.runners import local as local_runner
from tests import ingest_fixtures

pytestmark = pytest.mark.slow  # runs ingest pipelines

IMAGE_SIZE = 64


def _run(data, root):
  return local_runner.run(
      root, DataOptions(data['manifest'], ingest_image_size=IMAGE_SIZE), stop_after='validate',
      runtime=RuntimeOptions(beam_args=('--direct_running_mode=multi_processing',
                                        '--direct_num_workers=2')))


@pytest.fixture(scope='module')
def ingested(tmp_path_factory, no_face_images):
  root = tmp_path_factory.mktemp('ingest')
  data = ingest_fixtures.build(str(root / 'data'), no_face_images)
  metadata_path = _run(data, str(root / 'pipeline'))
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  store = metadata_store.MetadataStore(config)
  [examples] = store.get_artifacts_by_type('Examples')
  return {'data': data, 'root': root, 'store': store, 'uri': examples.uri,
          'metadata_path': metadata_path}


def test_three_splits_with_examples(ingested):
  for split in splits.SPLIT_NAMES:
    assert ingest_fixtures.read_split(ingested['uri'], split), split


def test_no_subject_in_two_splits(ingested):
  owner = {}
  for split in splits.SPLIT_NAMES:
    for ex in ingest_fixtures.read_split(ingested['uri'], split):
      subject = ex.features.feature['subject_id'].bytes_list.value[0]
      assert owner.setdefault(subject, split) == split, f'{subject} in two splits'
  assert len(owner) == len(ingested['data']['good_subjects'])


def test_example_contract(ingested, pseudonym_key):
  raw_ids = set(ingested['data']['good_subjects'])
  pseudonymous = {pseudonyms.subject_id(pseudonym_key, s).encode() for s in raw_ids}
  for ex in ingest_fixtures.read_split(ingested['uri'], 'train'):
    f = ex.features.feature
    assert set(f) == {'image', 'label', 'subject_id', 'video_id', 'frame_index',
                      'timestamp_ms', 'source', 'side', 'face_box', 'face_score',
                      'crop_padded', 'face_size', 'brightness', 'contrast', 'sharpness'}
    image = tf.io.decode_jpeg(f['image'].bytes_list.value[0])
    assert image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    assert 0 <= f['label'].int64_list.value[0] <= 5
    assert f['subject_id'].bytes_list.value[0] in pseudonymous
    assert f['subject_id'].bytes_list.value[0].decode() not in raw_ids
    box = list(f['face_box'].float_list.value)
    assert len(box) == 4 and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
    assert f['face_score'].float_list.value[0] > 0
    assert 0 <= f['crop_padded'].float_list.value[0] < 1
    assert 0 < f['face_size'].float_list.value[0] <= 1
    assert 0 < f['brightness'].float_list.value[0] < 255
    assert f['contrast'].float_list.value[0] > 0 and f['sharpness'].float_list.value[0] > 0
    assert f['frame_index'].int64_list.value[0] >= 0
    assert f['source'].bytes_list.value[0] in (b'meei', b'yfp', b'ck')
    assert f['side'].bytes_list.value[0] in (b'left', b'right', b'')


def test_crop_settings_are_recorded_beside_the_examples(ingested):
  with open(os.path.join(ingested['uri'], 'crop_settings.json')) as f:
    recorded = json.load(f)
  assert recorded['crop'] == {'size': IMAGE_SIZE, 'margin': 0.25, 'detect_width': 640,
                              'alignment': 'none', 'jpeg_quality': 95}
  assert recorded['source_fps'] == {'meei': 3.0, 'yfp': 6.0}


def test_sampling_rate_per_source(ingested):
  stamps = collections.defaultdict(list)
  for split in splits.SPLIT_NAMES:
    for ex in ingest_fixtures.read_split(ingested['uri'], split):
      f = ex.features.feature
      stamps[(f['source'].bytes_list.value[0], f['video_id'].bytes_list.value[0])].append(
          f['timestamp_ms'].int64_list.value[0])
  for (source, _), ms in stamps.items():
    ms.sort()
    if source == b'meei':   # 1.2 s at 3 fps; cut.mkv has ~1.5 s
      assert 4 <= len(ms) <= 5
      assert all(b - a >= 320 for a, b in zip(ms, ms[1:]))
    elif source == b'yfp':  # 1.2 s at 6 fps
      assert len(ms) >= 6
      assert all(b - a >= 150 for a, b in zip(ms, ms[1:]))


def test_summary_counts_and_every_failure(ingested, pseudonym_key):
  with open(os.path.join(ingested['uri'], 'ingest_summary.json')) as f:
    text = f.read()
  summary = json.loads(text)
  expected = ingested['data']['failures']
  failed = summary['failed_inputs']
  assert len(failed) == len(expected), json.dumps(failed, indent=1)
  by_row = {f['row']: f for f in failed}
  for key, (row, reason) in expected.items():
    rel = key.split('#')[0]
    assert reason in by_row[row]['reason'], f'{key}: row {row} should say {reason!r}'
    # Named by row and video pseudonym: the path stays on the machine that ran ingest.
    assert by_row[row]['video'] == pseudonyms.video_id(pseudonym_key, rel)
    assert set(by_row[row]) == {'row', 'video', 'reason'}
  assert 'media/' not in text and str(ingested['root']) not in text
  total = sum(summary['examples_per_split'].values())
  assert total == summary['faces_found'] > 0
  assert summary['frames_sampled'] == summary['faces_found'] + summary['frames_without_face']
  assert summary['frames_without_face'] >= 5  # the coffee video
  # 5 good videos + coffee + cut + corrupt + notes; the still and chelsea are images
  assert summary['videos_read'] == 9 and summary['images_read'] == 2
  assert summary['subjects_per_split'] == ingest_fixtures.GOOD_SUBJECTS_PER_SPLIT
  per_source = sum(summary['examples_per_source'].values())
  assert per_source == total


def test_truncated_video_keeps_frames_before_the_cut(ingested):
  with open(os.path.join(ingested['uri'], 'ingest_summary.json')) as f:
    summary = json.load(f)
  mild = sum(summary['examples_per_class'].get(s, {}).get('mild', 0)
             for s in splits.SPLIT_NAMES)
  # Grade 'mild' appears only in the good video of subject #2 (row label III) and cut.mkv
  good_mild = 4  # 1.2 s at 3 fps (meei)
  assert mild > good_mild


def test_statistics_schema_and_no_anomalies(ingested):
  store = ingested['store']
  for type_name in ('ExampleStatistics', 'Schema', 'ExampleAnomalies'):
    assert store.get_artifacts_by_type(type_name), type_name
  [anomalies] = store.get_artifacts_by_type('ExampleAnomalies')
  assert describe_anomalies(anomalies.uri, splits.SPLIT_NAMES) == []
  type_ids = {t.id: t.name for t in store.get_execution_types()}
  gate_runs = [e for e in store.get_executions() if 'AnomalyGate' in type_ids[e.type_id]]
  assert gate_runs[0].last_known_state == metadata_store_pb2.Execution.COMPLETE


def test_rerun_with_unchanged_manifest_is_cached(ingested):
  _run(ingested['data'], str(ingested['root'] / 'pipeline'))
  store = ingested['store']
  type_ids = {t.id: t.name for t in store.get_execution_types()}
  ingest_runs = [e for e in store.get_executions() if 'VideoIngest' in type_ids[e.type_id]]
  assert [e.last_known_state for e in ingest_runs] == [
      metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED]
  assert len(store.get_artifacts_by_type('Examples')) == 1
