"""TF Serving's warmup file in every exported model (``preprocessing/warmup.py``,
``trainer/export.py``): it parses with TF Serving's own protos, each request names a
signature and inputs that the SavedModel has, and the loopback STAND-IN for TF Serving
(tests/serving_standin.py; no TF Serving binary exists here) replays it at load as TF
Serving does, while a broken file stops that version's load.

The file is read here with ``prediction_log_pb2`` and ``saved_model_pb2`` directly, not
with the project's reader, so a reader that agreed with a wrong writer would not hide it.
"""
import os
import shutil

import grpc
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2, prediction_log_pb2

from preprocessing import contract, warmup
from tests import tiny_model
from tests.serving_standin import ModelServer, Refused

pytestmark = pytest.mark.slow  # exports models, starts a TF Serving stand-in


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  return tiny_model.save(str(tmp_path_factory.mktemp('warm') / 'palsy' / '1'))


def _records(path):
  return [r.numpy() for r in tf.data.TFRecordDataset([path])]


def _signature_defs(model_dir):
  with open(os.path.join(model_dir, 'saved_model.pb'), 'rb') as f:
    saved = saved_model_pb2.SavedModel.FromString(f.read())
  graph = next(g for g in saved.meta_graphs if 'serve' in g.meta_info_def.tags)
  return graph.signature_def


def test_the_file_parses_with_tf_servings_protos(model):
  logs = [prediction_log_pb2.PredictionLog.FromString(r)
          for r in _records(os.path.join(model, contract.WARMUP_FILE))]
  assert [log.WhichOneof('log_type') for log in logs] == ['predict_log'] * 3
  assert [log.predict_log.request.model_spec.signature_name for log in logs] == list(
      contract.SIGNATURES)


def test_each_request_names_a_signature_and_inputs_the_model_has(model):
  signature_defs = _signature_defs(model)
  crops = tiny_model.crops()
  for record in _records(os.path.join(model, contract.WARMUP_FILE)):
    request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
    signature = signature_defs[request.model_spec.signature_name]
    assert set(request.inputs) == set(signature.inputs)
    for name, proto in request.inputs.items():
      assert proto.dtype == signature.inputs[name].dtype
      values = list(tf.make_ndarray(proto))
      assert len(values) == contract.WARMUP_CROPS
      if name == contract.INPUT_EXAMPLES:  # tf.Examples that carry the crop and nothing else
        examples = [tf.train.Example.FromString(v) for v in values]
        assert all(list(e.features.feature) == [contract.IMAGE] for e in examples)
        values = [e.features.feature[contract.IMAGE].bytes_list.value[0] for e in examples]
      assert values == crops


def test_the_expected_responses_answer_the_requests_one_to_one(model):
  responses = [predict_pb2.PredictResponse.FromString(r)
               for r in _records(os.path.join(model, contract.WARMUP_RESPONSES_FILE))]
  assert [r.model_spec.signature_name for r in responses] == list(contract.SIGNATURES)
  for response in responses:
    assert tf.make_ndarray(response.outputs[contract.OUTPUT_PROBABILITIES]).shape == (
        contract.WARMUP_CROPS, 6)
  assert contract.OUTPUT_HEATMAPS in responses[2].outputs  # serving_explain's


def test_the_stand_in_replays_it_at_load(model):
  with ModelServer(os.path.dirname(model)) as server:
    replayed = server.servables[1].warmup_requests
    assert [r.model_spec.signature_name for r in replayed] == list(contract.SIGNATURES)
    assert '"state": "AVAILABLE"' in server.status('palsy', 1, None)


def _broken(model, base, how):
  """A copy of the model as version 2 under ``base``, its warmup file broken ``how``."""
  version = os.path.join(base, '2')
  shutil.copytree(model, version)
  path = os.path.join(version, contract.WARMUP_FILE)
  if how == 'truncated':
    with open(path, 'rb') as f:
      data = f.read()
    with open(path, 'wb') as f:
      f.write(data[:len(data) // 2])
  elif how == 'not_a_prediction_log':
    with tf.io.TFRecordWriter(path) as writer:
      writer.write(b'\xff\xff\xff\xff')
  elif how == 'unknown_signature':
    logs = warmup.requests(tiny_model.crops(1), [contract.SERVING_IMAGES])
    logs[0].predict_log.request.model_spec.signature_name = 'serving_missing'
    warmup.write_records(path, logs)
  elif how == 'wrong_input':
    logs = warmup.requests(tiny_model.crops(1), [contract.SERVING_IMAGES])
    request = logs[0].predict_log.request
    request.inputs['crops'].CopyFrom(request.inputs.pop(contract.INPUT_IMAGES))
    warmup.write_records(path, logs)
  return version


@pytest.mark.parametrize('how, code, message', [
    ('truncated', grpc.StatusCode.DATA_LOSS, 'Please verify your warmup data is in TFRecord'),
    ('not_a_prediction_log', grpc.StatusCode.INVALID_ARGUMENT, 'Failed to parse warmup record'),
    ('unknown_signature', grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "serving_missing" not found.'),
    ('wrong_input', grpc.StatusCode.INVALID_ARGUMENT, 'input tensor alias not found'),
])
def test_a_broken_warmup_file_stops_the_load(model, tmp_path, how, code, message):
  base = str(tmp_path / 'palsy')
  shutil.copytree(model, os.path.join(base, '1'))
  _broken(model, base, how)
  with ModelServer(base) as server:
    assert sorted(server.servables) == [1] and sorted(server.failed) == [2]
    assert server.failed[2].code == code and message in server.failed[2].message
    status = get_model_status_pb2.GetModelStatusResponse()
    from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
    json_format.Parse(server.status('palsy', 2, None), status)
    [version] = status.model_version_status
    assert version.state == get_model_status_pb2.ModelVersionStatus.END
    assert message in version.status.error_message
    with pytest.raises(Refused, match=r'Servable not found for request: Specific\(palsy, 2\)'):
      server.servable('palsy', 2, None)
    assert server.servable('palsy', None, None).version == 1  # the good one still serves


def test_the_project_reader_refuses_what_tf_serving_refuses(model, tmp_path):
  for how, message in (('truncated', 'not a TFRecord file'),
                       ('not_a_prediction_log', 'record 0 is not a PredictionLog')):
    version = _broken(model, str(tmp_path / how), how)
    path = os.path.join(version, contract.WARMUP_FILE)
    with pytest.raises(warmup.WarmupError, match=message) as err:
      warmup.read_requests(path)
    assert path in str(err.value)  # the error names the file


def test_the_trainer_picks_crops_of_different_videos_first(tmp_path):
  from trainer import data  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'eval.gz')
  rows = [(b'a', b'crop-a1'), (b'a', b'crop-a2'), (b'b', b'crop-b1'), (b'a', b'crop-a3'),
          (b'c', b'crop-c1')]
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for video, image in rows:
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          contract.VIDEO_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[video])),
          contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
      })).SerializeToString())
  assert data.warmup_crops([path], 3) == [b'crop-a1', b'crop-b1', b'crop-c1']
  assert data.warmup_crops([path], 4) == [b'crop-a1', b'crop-b1', b'crop-c1', b'crop-a2']
  assert data.warmup_crops([path], 2, scan=1) == [b'crop-a1']
