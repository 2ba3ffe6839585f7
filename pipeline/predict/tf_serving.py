"""Graders that ask a TF Serving model server for the grade probabilities of face crops.

``RestGrader`` (TF Serving's REST API, port 8501) and ``GrpcGrader`` (its
``PredictionService``, port 8500) send the crops' encoded JPEG bytes to the SavedModel's
``serving_images`` signature (trainer/export.py), so the server decodes and normalises them
with the same functions as training. Each has ``scores(jpegs) -> base.Scores`` (the
``probabilities`` and, from a model with the guard, the ``ood_score`` of each crop), the
grader interface of ``palsy-tfx predict``; no crop, no request.

The REST request is TF Serving's documented columnar form,
``{"signature_name": "serving_images", "inputs": {"images": [{"b64": ...}, ...]}}``, and
not the row form ``{"instances": [{"b64": ...}, ...]}``: it names the input, so a server
whose signature has no ``images`` input refuses it ("Missing named input") where the row
form would feed the bytes to whatever single input the signature has; and its answer,
``{"outputs": {"probabilities": [[...], ...], "grade": [...]}}``, gives the probabilities as
one (n, 6) array, not one object per crop. TF Serving writes float32 outputs with enough
digits to read back the same float32.

``explain(jpegs)`` sends the same request to ``serving_explain`` and reads its
``probabilities`` and ``heatmaps`` too, for ``palsy-tfx predict --explain``.

This module imports only the standard library and numpy; the gRPC grader imports grpc and
TensorFlow (which tensorflow-serving-api's protos need) when one is made.
"""
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from pipeline.predict import base
from preprocessing.contract import (INPUT_IMAGES, OUTPUT_HEATMAPS, OUTPUT_OOD_SCORE,
                                    OUTPUT_PROBABILITIES, SERVING_EXPLAIN, SERVING_IMAGES)
from preprocessing.labels import NUM_GRADES
# With --enable_batching, TF Serving refuses a request of more rows than the batching
# config's max_batch_size ("Task size 40 is larger than maximum input batch size 32"), so
# the graders send at most kubeflow/serving/batching.config's max_batch_size crops a request.
MAX_BATCH = 32
TIMEOUT_S = 30.0
# A gRPC client takes answers of at most 4 MB unless told otherwise; serving_explain's
# heatmaps for a full request are 32 x 224 x 224 float32, 6.4 MB. TF Serving sends any size.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


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

  def scores(self, jpegs: Sequence[bytes]) -> base.Scores:
    if not jpegs:
      return base.no_scores()
    found = self._joined(SERVING_IMAGES, jpegs, (OUTPUT_PROBABILITIES,), (OUTPUT_OOD_SCORE,))
    return base.Scores(found[OUTPUT_PROBABILITIES],
                       base.guard_scores(found.get(OUTPUT_OOD_SCORE)))

  def explain(self, jpegs: Sequence[bytes]) -> base.Explanation:
    if not jpegs:
      return base.explanation(base.no_rows(), np.zeros((0, 0, 0), np.float32))
    found = self._joined(SERVING_EXPLAIN, jpegs, (OUTPUT_PROBABILITIES, OUTPUT_HEATMAPS))
    return base.explanation(found[OUTPUT_PROBABILITIES], found[OUTPUT_HEATMAPS])

  def _joined(self, signature: str, jpegs: Sequence[bytes], names: Tuple[str, ...],
              optional: Tuple[str, ...] = ()) -> Dict[str, np.ndarray]:
    """The ``names`` outputs of ``signature`` for the crops, and those of ``optional``
    that every answer has (a model exported before an output lacks it), one request per
    ``batch_size`` crops, each output's rows joined in order."""
    jpegs = list(jpegs)
    parts = [self._outputs(signature, jpegs[start:start + self.batch_size], names, optional)
             for start in range(0, len(jpegs), self.batch_size)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]
            if all(name in part for part in parts)}

  def _outputs(self, signature: str, jpegs: Sequence[bytes], names: Tuple[str, ...],
               optional: Tuple[str, ...]) -> Dict[str, np.ndarray]:
    """One request; each of ``names`` (and of ``optional`` that the answer has) as
    float32, checked to have a row per crop."""
    raise NotImplementedError

  @staticmethod
  def _checked(name: str, values, n: int, where: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    if name == OUTPUT_PROBABILITIES and array.shape != (n, NUM_GRADES):
      raise ServingError(f'{where}: expected {OUTPUT_PROBABILITIES} of shape ({n}, '
                         f'{NUM_GRADES}) for {n} crop(s), got {array.shape}')
    if not array.ndim or len(array) != n:
      raise ServingError(f'{where}: expected {name} with {n} row(s) for {n} crop(s), got '
                         f'shape {array.shape}')
    return array


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

  def _outputs(self, signature: str, jpegs: Sequence[bytes], names: Tuple[str, ...],
               optional: Tuple[str, ...]) -> Dict[str, np.ndarray]:
    body = json.dumps({'signature_name': signature, 'inputs': {
        INPUT_IMAGES: [{'b64': base64.b64encode(jpeg).decode('ascii')} for jpeg in jpegs]}})
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
    found = answer.get('outputs') if isinstance(answer, dict) else None
    missing = [name for name in names if not isinstance(found, dict) or name not in found]
    if missing:
      raise ServingError(f'{self.url}: no outputs.{missing[0]} in the answer: '
                         f'{json.dumps(answer)[:300]}')
    return {name: self._checked(name, found[name], len(jpegs), self.url)
            for name in names + tuple(n for n in optional if n in found)}


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
    self._channel = grpc.insecure_channel(
        target, options=[('grpc.max_receive_message_length', MAX_ANSWER_BYTES)])
    self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

  def _outputs(self, signature: str, jpegs: Sequence[bytes], names: Tuple[str, ...],
               optional: Tuple[str, ...]) -> Dict[str, np.ndarray]:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = signature
    if self.version is not None:
      request.model_spec.version.value = int(self.version)
    elif self.label is not None:
      request.model_spec.version_label = self.label
    request.inputs[INPUT_IMAGES].CopyFrom(tf.make_tensor_proto(list(jpegs), dtype=tf.string))
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as err:
      raise ServingError(f'{self.target}: {err.code().name}: {err.details()}') from err
    for name in names:
      if name not in response.outputs:
        raise ServingError(f'{self.target}: no {name} output in the answer (outputs: '
                           f'{", ".join(sorted(response.outputs)) or "none"})')
    return {name: self._checked(name, tf.make_ndarray(response.outputs[name]), len(jpegs),
                                self.target)
            for name in names + tuple(n for n in optional if n in response.outputs)}

  def close(self) -> None:
    self._channel.close()
