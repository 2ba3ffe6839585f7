"""Graders that ask a TF Serving model server for the grade probabilities of face crops.

``RestGrader`` (TF Serving's REST API, port 8501) and ``GrpcGrader`` (its
``PredictionService``, port 8500) send the crops' encoded JPEG bytes to the SavedModel's
``serving_images`` signature (trainer/export.py), so the server decodes and normalises them
with the same functions as training. Each has ``probabilities(jpegs) -> (n, 6) float32``,
the grader interface of ``palsy-tfx predict``; no crop, no request.

The REST request is TF Serving's documented columnar form,
``{"signature_name": "serving_images", "inputs": {"images": [{"b64": ...}, ...]}}``, and
not the row form ``{"instances": [{"b64": ...}, ...]}``: it names the input, so a server
whose signature has no ``images`` input refuses it ("Missing named input") where the row
form would feed the bytes to whatever single input the signature has; and its answer,
``{"outputs": {"probabilities": [[...], ...], "grade": [...]}}``, gives the probabilities as
one (n, 6) array, not one object per crop. TF Serving writes float32 outputs with enough
digits to read back the same float32.

This module imports only the standard library and numpy; the gRPC grader imports grpc and
TensorFlow (which tensorflow-serving-api's protos need) when one is made.
"""
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional, Sequence

import numpy as np

from preprocessing.labels import NUM_GRADES

SIGNATURE = 'serving_images'
INPUT = 'images'
OUTPUT = 'probabilities'
# With --enable_batching, TF Serving refuses a request of more rows than the batching
# config's max_batch_size ("Task size 40 is larger than maximum input batch size 32"), so
# the graders send at most kubeflow/serving/batching.config's max_batch_size crops a request.
MAX_BATCH = 32
TIMEOUT_S = 30.0


class ServingError(RuntimeError):
  """The model server could not be reached or refused a request; says which server."""


class _Grader:
  """Splits the crops into requests of at most ``batch_size`` and joins the answers."""

  def __init__(self, model_name: str, version: Optional[int], label: Optional[str],
               timeout: float, batch_size: int):
    if version is not None and label is not None:
      raise ValueError(f'give a model version ({version}) or a version label ({label!r}), '
                       'not both: TF Serving refuses a request with both')
    if batch_size < 1:
      raise ValueError(f'batch_size must be at least 1, not {batch_size}')
    self.model_name = model_name
    self.version = version
    self.label = label
    self.timeout = timeout
    self.batch_size = batch_size

  def probabilities(self, jpegs: Sequence[bytes]) -> np.ndarray:
    jpegs = list(jpegs)
    parts = [self._predict(jpegs[start:start + self.batch_size])
             for start in range(0, len(jpegs), self.batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, NUM_GRADES), np.float32)

  def _predict(self, jpegs: Sequence[bytes]) -> np.ndarray:
    raise NotImplementedError

  @staticmethod
  def _checked(rows, n: int, where: str) -> np.ndarray:
    probabilities = np.asarray(rows, dtype=np.float32)
    if probabilities.shape != (n, NUM_GRADES):
      raise ServingError(f'{where}: expected {OUTPUT} of shape ({n}, {NUM_GRADES}) for {n} '
                         f'crop(s), got {probabilities.shape}')
    return probabilities


class RestGrader(_Grader):
  """TF Serving's REST predict API: POST /v1/models/NAME[/versions/N|/labels/L]:predict.

  ``url`` is the server's base address, e.g. ``http://HOST:8501``.
  """

  def __init__(self, url: str, model_name: str = 'palsy', version: Optional[int] = None,
               label: Optional[str] = None, timeout: float = TIMEOUT_S,
               batch_size: int = MAX_BATCH):
    super().__init__(model_name, version, label, timeout, batch_size)
    path = '/v1/models/' + urllib.parse.quote(model_name, safe='')
    if version is not None:
      path += f'/versions/{int(version)}'
    elif label is not None:
      path += '/labels/' + urllib.parse.quote(label, safe='')
    self.url = url.rstrip('/') + path + ':predict'

  def _predict(self, jpegs: Sequence[bytes]) -> np.ndarray:
    body = json.dumps({'signature_name': SIGNATURE, 'inputs': {
        INPUT: [{'b64': base64.b64encode(jpeg).decode('ascii')} for jpeg in jpegs]}})
    request = urllib.request.Request(self.url, data=body.encode(), method='POST',
                                     headers={'Content-Type': 'application/json'})
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as response:
        answer = json.loads(response.read())
    except urllib.error.HTTPError as err:  # TF Serving's JSON {"error": ...}, if it sent one
      raise ServingError(f'{self.url}: HTTP {err.code}: {_error_message(err)}') from err
    except urllib.error.URLError as err:  # refused, unknown host
      raise ServingError(f'{self.url}: {err.reason}') from err
    except OSError as err:  # timed out while reading, connection reset
      raise ServingError(f'{self.url}: {err or type(err).__name__}') from err
    except ValueError as err:
      raise ServingError(f'{self.url}: the answer is not JSON: {err}') from err
    try:
      rows = answer['outputs'][OUTPUT]
    except (KeyError, TypeError):
      raise ServingError(f'{self.url}: no outputs.{OUTPUT} in the answer: '
                         f'{json.dumps(answer)[:300]}') from None
    return self._checked(rows, len(jpegs), self.url)


def _error_message(err: urllib.error.HTTPError) -> str:
  text = err.read().decode('utf-8', 'replace')
  try:
    return json.loads(text)['error']
  except (ValueError, KeyError, TypeError):
    return text.strip()[:300] or str(err.reason)


class GrpcGrader(_Grader):
  """TF Serving's gRPC ``PredictionService.Predict``, with tensorflow-serving-api's protos.

  ``target`` is ``HOST:8500``. The channel is insecure (plain HTTP/2), as TF Serving serves
  by default; ``close()`` closes it.
  """

  def __init__(self, target: str, model_name: str = 'palsy', version: Optional[int] = None,
               label: Optional[str] = None, timeout: float = TIMEOUT_S,
               batch_size: int = MAX_BATCH):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc
    super().__init__(model_name, version, label, timeout, batch_size)
    self.target = target
    self._channel = grpc.insecure_channel(target)
    self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

  def _predict(self, jpegs: Sequence[bytes]) -> np.ndarray:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = SIGNATURE
    if self.version is not None:
      request.model_spec.version.value = int(self.version)
    elif self.label is not None:
      request.model_spec.version_label = self.label
    request.inputs[INPUT].CopyFrom(tf.make_tensor_proto(list(jpegs), dtype=tf.string))
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as err:
      raise ServingError(f'{self.target}: {err.code().name}: {err.details()}') from err
    if OUTPUT not in response.outputs:
      raise ServingError(f'{self.target}: no {OUTPUT} output in the answer (outputs: '
                         f'{", ".join(sorted(response.outputs)) or "none"})')
    return self._checked(tf.make_ndarray(response.outputs[OUTPUT]), len(jpegs), self.target)

  def close(self) -> None:
    self._channel.close()
