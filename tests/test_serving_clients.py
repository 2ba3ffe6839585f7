"""The REST and gRPC graders (pipeline/predict/tf_serving.py) against a loopback STAND-IN for TF
Serving (tests/serving_standin.py; no TF Serving binary or container engine exists here),
which answers from two real SavedModels made by trainer.export and refuses malformed
requests with TF Serving's messages. The graders must give the probabilities of calling the
signature directly, and send what TF Serving's documented formats ask for: the signature's
name and input names, read from the SavedModel, and base64 bytes."""
import base64
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import cv2
import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pipeline.predict import tf_serving
from pipeline.predict.tf_serving import GrpcGrader, RestGrader, ServingError
from tests import serving_kit
from tests.serving_standin import ModelServer
from trainer import export, presets
from trainer.model import build_classifier

pytestmark = pytest.mark.slow  # starts a TF Serving stand-in

LABELS = {'stable': 1, 'canary': 2}


@pytest.fixture(scope='module')
def models(tmp_path_factory):
  """Versions 1 and 2 of a tiny model (the demo CNN at 32 px, two seeds), pushed as the
  Pusher pushes: BASE/<version>/."""
  base = tmp_path_factory.mktemp('serving') / 'palsy'
  preset = presets.resolve('demo', {})
  for version in LABELS.values():
    keras.utils.set_random_seed(version)
    export.export(build_classifier(preset, 32, 'none'), str(base / str(version)), 32,
                  preset.normalisation, {})
  return str(base)


@pytest.fixture(scope='module')
def server(models):
  with ModelServer(models, 'palsy', LABELS, max_batch_size=tf_serving.MAX_BATCH) as s:
    yield s


@pytest.fixture(scope='module')
def signatures(models):
  """Each version's ``serving_images`` signature, loaded apart from the stand-in."""
  return {v: tf.saved_model.load(os.path.join(models, str(v))).signatures['serving_images']
          for v in LABELS.values()}


@pytest.fixture(scope='module')
def jpegs(astronaut):
  """Five different face crops of the astronaut, JPEG-encoded as ingest stores them."""
  crops = [astronaut[20 + 8 * i:200 + 8 * i, 150 - 6 * i:330 - 6 * i] for i in range(5)]
  return [cv2.imencode('.jpg', cv2.cvtColor(c, cv2.COLOR_RGB2BGR))[1].tobytes() for c in crops]


def _direct(signature, jpegs):
  return signature(images=tf.constant(jpegs))['probabilities'].numpy()


def _grader(kind, server, **kwargs):
  if kind == 'rest':
    return RestGrader(server.rest_url, **kwargs)
  return GrpcGrader(server.grpc_target, **kwargs)


def _sent(kind, server, since):
  return (server.rest_requests if kind == 'rest' else server.grpc_requests)[since:]


def _count(kind, server):
  return len(_sent(kind, server, 0))


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_graders_give_the_signatures_probabilities_in_tf_servings_format(
    kind, server, signatures, jpegs):
  before = _count(kind, server)
  got = _grader(kind, server, batch_size=2).scores(jpegs).probabilities
  want = _direct(signatures[2], jpegs)  # no version or label: the latest version
  assert got.dtype == np.float32 and got.shape == (5, 6)
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)

  signature = signatures[2]
  input_names = set(signature.structured_input_signature[1])  # from the SavedModel
  sent = _sent(kind, server, before)
  assert len(sent) == 3  # 2 + 2 + 1 crops
  received = []
  for request in sent:
    if kind == 'rest':
      assert request['method'] == 'POST' and request['path'] == '/v1/models/palsy:predict'
      body = json.loads(request['body'])
      assert set(body) == {'signature_name', 'inputs'}
      assert body['signature_name'] == tf_serving.SERVING_IMAGES
      assert set(body['inputs']) == input_names
      for value in body['inputs'][tf_serving.INPUT_IMAGES]:
        assert set(value) == {'b64'}
        received.append(base64.b64decode(value['b64'], validate=True))
    else:
      assert request.model_spec.name == 'palsy'
      assert request.model_spec.signature_name == tf_serving.SERVING_IMAGES
      assert not request.model_spec.HasField('version') and not request.model_spec.version_label
      assert set(request.inputs) == input_names
      tensor = request.inputs[tf_serving.INPUT_IMAGES]
      assert tensor.dtype == tf.string.as_datatype_enum
      received.extend(tf.make_ndarray(tensor).tolist())
  assert received == jpegs


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_graders_explain_through_the_explain_signature(kind, server, models, jpegs):
  before = _count(kind, server)
  got = _grader(kind, server, batch_size=2, label='stable').explain(jpegs)
  direct = tf.saved_model.load(os.path.join(models, '1')).signatures['serving_explain'](
      images=tf.constant(jpegs))
  np.testing.assert_allclose(got.probabilities, direct['probabilities'].numpy(), rtol=0,
                             atol=1e-6)
  # Requests of 2 crops, against one call on all 5: the batch changes the float sums a little.
  np.testing.assert_allclose(got.heatmaps, direct['heatmaps'].numpy(), rtol=0, atol=1e-5)
  assert got.heatmaps.shape == (5, 32, 32) and got.heatmaps.max() > 0
  assert got.grades == [g.decode() for g in direct['grade'].numpy()]
  sent = _sent(kind, server, before)
  assert len(sent) == 3  # 2 + 2 + 1 crops
  for request in sent:
    signature = (json.loads(request['body'])['signature_name'] if kind == 'rest'
                 else request.model_spec.signature_name)
    assert signature == 'serving_explain'


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_a_version_or_a_label_picks_the_model(kind, server, signatures, jpegs):
  v1, v2 = _direct(signatures[1], jpegs), _direct(signatures[2], jpegs)
  assert np.abs(v1 - v2).max() > 1e-3  # two different models, so the choice shows
  for kwargs, want in [({'version': 1}, v1), ({'version': 2}, v2), ({'label': 'stable'}, v1),
                       ({'label': 'canary'}, v2)]:
    before = _count(kind, server)
    np.testing.assert_allclose(_grader(kind, server, **kwargs).scores(jpegs).probabilities, want,
                               rtol=0, atol=1e-6, err_msg=str(kwargs))
    request, = _sent(kind, server, before)
    if kind == 'rest':
      where = (f"/versions/{kwargs['version']}" if 'version' in kwargs
               else f"/labels/{kwargs['label']}")
      assert request['path'] == f'/v1/models/palsy{where}:predict'
    elif 'version' in kwargs:
      assert request.model_spec.version.value == kwargs['version']
    else:
      assert request.model_spec.version_label == kwargs['label']
  with pytest.raises(ValueError, match='not both'):
    _grader(kind, server, version=1, label='stable')


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_no_crops_no_request(kind, server):
  before = _count(kind, server)
  empty = _grader(kind, server).scores([]).probabilities
  assert empty.shape == (0, 6) and empty.dtype == np.float32
  assert _count(kind, server) == before


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_tf_servings_refusal_is_an_error_naming_the_server(kind, server, jpegs):
  where = server.rest_url if kind == 'rest' else server.grpc_target
  for kwargs, message in [
      ({'model_name': 'palsy2'}, 'Servable not found for request: Latest(palsy2)'),
      ({'version': 9}, 'Servable not found for request: Specific(palsy, 9)'),
      ({'label': 'beta'}, 'Unrecognized servable version label: beta')]:
    with pytest.raises(ServingError) as err:
      _grader(kind, server, **kwargs).scores(jpegs[:1])
    assert where in str(err.value) and message in str(err.value)
    if kind == 'rest':
      status = 404 if 'Servable' in message else 400
      assert f'/v1/models/{kwargs.get("model_name", "palsy")}' in str(err.value)
      assert f'HTTP {status}: {message}' in str(err.value)
  with pytest.raises(ServingError, match='Task size 33 is larger than maximum input batch size'):
    _grader(kind, server, batch_size=33).scores(jpegs * 7)


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_a_client_that_drifts_from_the_signature_is_refused(kind, server, jpegs, monkeypatch):
  """The stand-in checks names against the SavedModel, so these tests would catch a client
  that sent the wrong signature or input name."""
  monkeypatch.setattr(tf_serving, 'INPUT_IMAGES', 'image')
  with pytest.raises(ServingError, match="Missing named input: images in 'inputs' object"
                     if kind == 'rest' else 'input tensor alias not found in signature: image'):
    _grader(kind, server).scores(jpegs[:1])
  monkeypatch.setattr(tf_serving, 'INPUT_IMAGES', 'images')
  monkeypatch.setattr(tf_serving, 'SERVING_IMAGES', 'serving_imgs')
  with pytest.raises(ServingError, match='Serving signature name: "serving_imgs" not found'
                     if kind == 'rest' else 'Serving signature key "serving_imgs" not found'):
    _grader(kind, server).scores(jpegs[:1])


def _post(server, body):
  request = urllib.request.Request(f'{server.rest_url}/v1/models/palsy:predict',
                                   data=json.dumps(body).encode(), method='POST')
  try:
    with urllib.request.urlopen(request, timeout=30) as response:
      return response.status, json.loads(response.read())
  except urllib.error.HTTPError as err:
    return err.code, json.loads(err.read())


def test_the_standin_refuses_malformed_rest_requests_as_tf_serving_does(server, jpegs):
  b64 = {'b64': base64.b64encode(jpegs[0]).decode()}
  assert _post(server, {'signature_name': 'serving_images', 'inputs': {'images': [b64]}})[0] == 200
  row_status, row = _post(server, {'signature_name': 'serving_images', 'instances': [b64]})
  assert row_status == 200 and set(row['predictions'][0]) == {'probabilities', 'logits', 'grade',
                                                             'ood_score'}
  for body, message in [
      ({'signature_name': 'images', 'inputs': {'images': [b64]}},
       'Serving signature name: "images" not found in signature def'),
      ({'signature_name': 'serving_images', 'inputs': {'image': [b64]}},
       "Missing named input: images in 'inputs' object."),
      ({'signature_name': 'serving_images', 'inputs': {'images': [{'b64': '#not base64#'}]}},
       'Unable to base64 decode'),
      # A plain JSON string reaches the model as its UTF-8 bytes, which are no image.
      ({'signature_name': 'serving_images', 'inputs': {'images': ['/9j/4AAQ']}},
       'Unknown image file format'),
      ({'signature_name': 'serving_images', 'instances': [{'image': b64}]},
       'keys must be equal to: images'),
      ({'inputs': {'images': [b64]}}, "Missing named input: examples in 'inputs' object."),
  ]:
    status, answer = _post(server, body)
    assert status == 400 and message in answer['error'], (body, answer)


def test_the_standin_refuses_malformed_grpc_requests_as_tf_serving_does(server, jpegs):
  stub = prediction_service_pb2_grpc.PredictionServiceStub(
      grpc.insecure_channel(server.grpc_target))

  def refusal(signature, inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = 'palsy'
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
      request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    with pytest.raises(grpc.RpcError) as err:
      stub.Predict(request, timeout=30)
    return err.value.code(), err.value.details()

  assert refusal('serving_imgs', {'images': jpegs[:1]}) == (
      grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "serving_imgs" not found.')
  assert refusal('serving_images', {'image': jpegs[:1]}) == (
      grpc.StatusCode.INVALID_ARGUMENT, 'input tensor alias not found in signature: image. '
      'Inputs expected to be in the set {images}.')
  code, details = refusal('serving_images', {'images': jpegs[:1], 'extra': jpegs[:1]})
  assert code == grpc.StatusCode.INVALID_ARGUMENT and 'Sent extra: {extra}' in details
  assert refusal('serving_images', {'images': np.zeros(1, np.float32)}) == (
      grpc.StatusCode.INVALID_ARGUMENT, 'Expects arg[0] to be string but float is provided')


def test_the_readiness_probe_route_answers_with_the_model_status(server, models, tmp_path):
  kit = serving_kit.load(serving_kit.generate(str(tmp_path / 'kit'), os.path.dirname(models),
                                              LABELS['stable'], LABELS['canary']))
  probe = kit.deployment['spec']['template']['spec']['containers'][0]
  path = probe['readinessProbe']['httpGet']['path']
  with urllib.request.urlopen(server.rest_url + path, timeout=30) as response:
    status = json.loads(response.read())
  assert [(s['version'], s['state'], s['status']['error_code'])
          for s in status['model_version_status']] == [('2', 'AVAILABLE', 'OK'),
                                                       ('1', 'AVAILABLE', 'OK')]
  with urllib.request.urlopen(f'{server.rest_url}{path}/labels/stable', timeout=30) as response:
    assert [s['version'] for s in json.loads(response.read())['model_version_status']] == ['1']


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_an_absent_or_silent_server_is_a_clear_error(kind, jpegs):
  closed = socket.socket()
  closed.bind(('127.0.0.1', 0))
  port = closed.getsockname()[1]
  closed.close()  # nothing listens here now
  silent = socket.socket()  # accepts connections (backlog) and never answers
  silent.bind(('127.0.0.1', 0))
  silent.listen(4)
  try:
    for address, message in [(port, 'refused' if kind == 'rest' else 'UNAVAILABLE'),
                             (silent.getsockname()[1],
                              'timed out' if kind == 'rest' else 'DEADLINE_EXCEEDED')]:
      where = f'http://127.0.0.1:{address}' if kind == 'rest' else f'127.0.0.1:{address}'
      grader = (RestGrader(where, timeout=0.5) if kind == 'rest'
                else GrpcGrader(where, timeout=0.5))
      with pytest.raises(ServingError, match=message) as err:
        grader.scores(jpegs[:1])
      assert where in str(err.value)
  finally:
    silent.close()


def test_importing_the_clients_loads_neither_tensorflow_nor_grpc():
  code = ('import sys; import pipeline.predict.tf_serving; '
          "print(sorted(m for m in ('tensorflow', 'grpc', 'tensorflow_serving') "
          'if m in sys.modules))')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                       cwd=serving_kit.ROOT, env={**os.environ, 'PYTHONPATH': serving_kit.ROOT})
  assert out.stdout.strip() == '[]'
