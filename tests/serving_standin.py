"""A loopback STAND-IN for TF Serving's model server, for the serving clients' tests.

No TF Serving binary and no container engine exist on the machines that run these tests, so
this stands in for ``tensorflow_model_server``. It is not TF Serving: it re-implements, after
TF Serving 2.16.1's sources, the parts that pipeline/predict/tf_serving.py uses, and answers
from real SavedModels (``tf.saved_model.load``, the named signature called):

* REST (model_servers/http_rest_api_handler.cc, util/json_tensor.cc): the model status route
  ``GET /v1/models/NAME[/versions/N|/labels/L]`` and
  ``POST /v1/models/NAME[/versions/N|/labels/L]:predict`` in row (``instances``) and
  columnar (``inputs``) form, strings plain or ``{"b64": ...}``, with TF Serving's
  ``{"error": ...}`` answers and its status-to-HTTP mapping (http_server.cc);
* gRPC: ``PredictionService.Predict`` with the real tensorflow_serving.apis protos.

Requests are checked against the SavedModel's own ``signature_def`` (read from
saved_model.pb, as TF Serving reads it) and refused with TF Serving's messages where it
refuses them: an unknown model, version or label, an unknown signature, a missing or
unknown input name, a bad base64 string, a wrong dtype, bytes that are not an image (plain
JSON strings reach the model as their UTF-8 bytes, as in TF Serving), and more rows than
the batching config's ``max_batch_size``. Every request is recorded so that tests can check
what went over the wire.

At load, each version replays its ``assets.extra/tf_serving_warmup_requests`` as TF Serving
does (servables/tensorflow/saved_model_warmup_util.cc and saved_model_warmup.cc): read as an
uncompressed TFRecord of ``PredictionLog``s, each predict request run as a Predict call
(with the checks above), at most 1000 records; a file that is not a TFRecord, a record that
is not a PredictionLog, or a request that fails stops that version's load, which then is not
served and reports state END with the error, as TF Serving's model status does.
"""
import base64
import binascii
import json
import os
import re
import threading
import urllib.parse
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (get_model_status_pb2, predict_pb2, prediction_log_pb2,
                                     prediction_service_pb2_grpc)

# model_servers/http_rest_api_util.cc
PREDICT_PATH = re.compile(r'(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?'
                          r':(classify|regress|predict)')
STATUS_PATH = re.compile(r'(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|'
                         r'(?:/labels/([^/:]+)))?(?:/(metadata))?')
# model_servers/http_server.cc, ToHTTPStatusCode
HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
               grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.NOT_FOUND: 404,
               grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.UNAVAILABLE: 503,
               grpc.StatusCode.DEADLINE_EXCEEDED: 504}
_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class Refused(Exception):
  """A request TF Serving would refuse: its status code and message."""

  def __init__(self, code: grpc.StatusCode, message: str):
    super().__init__(message)
    self.code = code
    self.message = message


# servables/tensorflow/saved_model_warmup_util.h, WarmupConsts
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
MAX_WARMUP_RECORDS = 1000


class LoadFailed(Exception):
  """A version TF Serving would not load: its status code and message."""

  def __init__(self, code: grpc.StatusCode, message: str):
    super().__init__(message)
    self.code = code
    self.message = message


class Servable:
  """One version of the model: its signature_defs as TF Serving reads them, and the loaded
  SavedModel whose signatures answer, warmed up by its warmup file."""

  def __init__(self, path: str, version: int):
    with open(os.path.join(path, 'saved_model.pb'), 'rb') as f:
      saved = saved_model_pb2.SavedModel.FromString(f.read())
    graph = next(g for g in saved.meta_graphs if 'serve' in g.meta_info_def.tags)
    self.signature_defs = graph.signature_def
    self.loaded = tf.saved_model.load(path, tags=['serve'])
    self.version = version
    self.warmup_requests = self._warm_up(os.path.join(path, WARMUP_FILE))

  def _warm_up(self, path: str) -> List[predict_pb2.PredictRequest]:
    """RunSavedModelWarmup: replay every record; the requests replayed, in order."""
    if not os.path.exists(path):
      return []  # "No warmup data file found": optional in TF Serving
    replayed = []
    records = iter(tf.data.TFRecordDataset([path]))  # uncompressed, as RecordReader reads
    while True:
      try:
        record = next(records).numpy()
      except StopIteration:
        return replayed
      except tf.errors.DataLossError as err:
        raise LoadFailed(grpc.StatusCode.DATA_LOSS, f'{err.message}. Please verify your warmup '
                         'data is in TFRecord format.') from err
      try:
        log = prediction_log_pb2.PredictionLog.FromString(record)
      except Exception as err:  # protobuf's DecodeError: ParseFromArray returned false
        raise LoadFailed(grpc.StatusCode.INVALID_ARGUMENT, f'Failed to parse warmup record: '
                         f'{record[:100]!r} from {path}') from err
      kind = log.WhichOneof('log_type')
      if kind == 'session_run_log':
        raise LoadFailed(grpc.StatusCode.UNIMPLEMENTED, 'Unsupported log_type for warmup: '
                         f'{kind}')
      if kind in ('classify_log', 'regress_log', 'multi_inference_log'):
        raise LoadFailed(grpc.StatusCode.UNIMPLEMENTED, f'stand-in: no warmup of {kind}')
      if kind == 'predict_log':
        request = log.predict_log.request
        try:
          run_predict(self, request.model_spec.signature_name, _request_tensors(request))
        except Refused as refused:
          raise LoadFailed(refused.code, refused.message) from refused
        replayed.append(request)
      if len(replayed) > MAX_WARMUP_RECORDS:
        raise LoadFailed(grpc.StatusCode.INVALID_ARGUMENT, 'Number of warmup records exceeds '
                         f'the maximum ({MAX_WARMUP_RECORDS}) at {path}')


def _request_tensors(request: predict_pb2.PredictRequest) -> Dict[str, tf.Tensor]:
  return {name: tf.constant(tf.make_ndarray(proto), dtype=tf.dtypes.as_dtype(proto.dtype))
          for name, proto in request.inputs.items()}


def run_predict(servable: Servable, signature_name: str, inputs: Dict[str, tf.Tensor],
                max_batch_size: Optional[int] = None) -> Dict[str, np.ndarray]:
  """servables/tensorflow/predict_util.cc RunPredict, then the session run."""
  signature_name = signature_name or 'serving_default'
  if signature_name not in servable.signature_defs:
    raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                  f'Serving signature key "{signature_name}" not found.')
  expected = servable.signature_defs[signature_name].inputs
  if len(inputs) != len(expected):  # VerifyRequestInputsSize (our signatures have no defaults)
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                  f'input size does not match signature: {len(inputs)}!={len(expected)} '
                  f'len({{{",".join(sorted(inputs))}}}) != len({{{",".join(sorted(expected))}}}).'
                  f' Sent extra: {{{",".join(sorted(set(inputs) - set(expected)))}}}. Missing '
                  f'but required: {{{",".join(sorted(set(expected) - set(inputs)))}}}.')
  for name in inputs:  # GetInputValues
    if name not in expected:
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                    f'input tensor alias not found in signature: {name}. Inputs expected to '
                    f'be in the set {{{",".join(sorted(expected))}}}.')
  for position, (name, tensor) in enumerate(sorted(inputs.items())):
    if tensor.dtype.as_datatype_enum != expected[name].dtype:
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                    f'Expects arg[{position}] to be {_type_name(expected[name].dtype)} but '
                    f'{_type_name(tensor.dtype.as_datatype_enum)} is provided')
    rows = tensor.shape[0] if tensor.shape.rank else 1
    if max_batch_size is not None and rows > max_batch_size:
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT,  # TF's SharedBatchScheduler
                    f'Task size {rows} is larger than maximum input batch size '
                    f'{max_batch_size}')
  try:
    outputs = servable.loaded.signatures[signature_name](**inputs)
  except tf.errors.OpError as err:
    raise Refused(_STATUS_BY_NUMBER[err.error_code], err.message) from err
  except (TypeError, ValueError) as err:  # a shape the signature cannot take
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, str(err)) from err
  return {name: value.numpy() for name, value in outputs.items()}


class ModelServer:
  """Serves every numbered version under ``base_path`` as model ``model_name``, with version
  ``labels``, on loopback REST and gRPC ports (``rest_url``, ``grpc_target``)."""

  def __init__(self, base_path: str, model_name: str = 'palsy',
               labels: Optional[Dict[str, int]] = None, max_batch_size: Optional[int] = None):
    self.model_name = model_name
    # AspiredVersionsManager: a version that fails to load is not served; its status is END
    # with the error.
    self.servables: Dict[int, Servable] = {}
    self.failed: Dict[int, LoadFailed] = {}
    for name in sorted(n for n in os.listdir(base_path) if n.isdigit()):
      try:
        self.servables[int(name)] = Servable(os.path.join(base_path, name), int(name))
      except LoadFailed as failed:
        self.failed[int(name)] = failed
    self.labels = dict(labels or {})
    self.max_batch_size = max_batch_size
    self.rest_requests: List[dict] = []  # {'method', 'path', 'body'}
    self.grpc_requests: List[predict_pb2.PredictRequest] = []
    self._http = ThreadingHTTPServer(('127.0.0.1', 0), _rest_handler(self))
    self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService(self), self._grpc)
    grpc_port = self._grpc.add_insecure_port('127.0.0.1:0')
    self.rest_url = f'http://127.0.0.1:{self._http.server_address[1]}'
    self.grpc_target = f'127.0.0.1:{grpc_port}'

  def __enter__(self):
    threading.Thread(target=self._http.serve_forever, daemon=True).start()
    self._grpc.start()
    return self

  def __exit__(self, *exc):
    self._http.shutdown()
    self._http.server_close()
    self._grpc.stop(grace=None)

  # ServerCore::GetServableHandle: the latest version unless a version or label is given.
  def servable(self, name: str, version: Optional[int], label: Optional[str]) -> Servable:
    if label is not None:  # a path or a ModelSpec carries a version or a label, never both
      if name != self.model_name or label not in self.labels:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                      f'Unrecognized servable version label: {label}')
      version = self.labels[label]
    if name != self.model_name or (version is not None and version not in self.servables) or (
        version is None and not self.servables):
      request = f'Specific({name}, {version})' if version is not None else f'Latest({name})'
      raise Refused(grpc.StatusCode.NOT_FOUND, f'Servable not found for request: {request}')
    return self.servables[max(self.servables) if version is None else version]

  def predict(self, servable: Servable, signature_name: str,
              inputs: Dict[str, tf.Tensor]) -> Dict[str, np.ndarray]:
    return run_predict(servable, signature_name, inputs, self.max_batch_size)

  def status(self, name: str, version: Optional[int], label: Optional[str]) -> str:
    """model_servers/get_model_status_impl.cc, written as http_rest_api_util.cc does."""
    if label is not None:
      version = self.servable(name, None, label).version
    known = set(self.servables) | set(self.failed)
    versions = sorted(known, reverse=True) if version is None else [version]
    if name != self.model_name or not versions or not set(versions) <= known:
      raise Refused(grpc.StatusCode.NOT_FOUND,
                    f'Could not find any versions of model {name}' if version is None
                    else f'Could not find version {version} of model {name}')
    response = get_model_status_pb2.GetModelStatusResponse()
    for v in versions:
      if v in self.failed:
        status = response.model_version_status.add(
            version=v, state=get_model_status_pb2.ModelVersionStatus.END)
        status.status.error_code = self.failed[v].code.value[0]
        status.status.error_message = self.failed[v].message
        continue
      status = response.model_version_status.add(
          version=v, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE)
      status.status.SetInParent()  # error_code OK
    return json_format.MessageToJson(response, including_default_value_fields=True)


def _type_name(dtype: int) -> str:  # TF's DataTypeString: DT_FLOAT -> float
  return types_pb2.DataType.Name(dtype)[3:].lower()


def _rest_handler(server: ModelServer):

  class Handler(BaseHTTPRequestHandler):
    """http_rest_api_handler.cc ProcessRequest: status route (GET) and predict (POST)."""

    def do_GET(self):  # pylint: disable=invalid-name
      self._answer('GET', lambda body: self._status())

    def do_POST(self):  # pylint: disable=invalid-name
      self._answer('POST', self._predict)

    def _answer(self, method, respond):
      body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
      server.rest_requests.append({'method': method, 'path': self.path, 'body': body})
      try:
        code, text = 200, respond(body)
      except Refused as refused:
        code, text = HTTP_STATUS.get(refused.code, 500), json.dumps({'error': refused.message})
      data = text.encode()
      self.send_response(code)
      self.send_header('Content-Type', 'application/json')
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def _route(self, pattern):
      match = pattern.fullmatch(self.path)
      if not match:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                      f'Malformed request: {self.command} {self.path}')
      name, version, label = match.group(1, 2, 3)
      return (urllib.parse.unquote(name or ''), int(version) if version else None,
              urllib.parse.unquote(label) if label else None, match.group(4))

    def _status(self):
      name, version, label, subresource = self._route(STATUS_PATH)
      if not name:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, 'Missing model name in request.')
      if subresource:
        raise Refused(grpc.StatusCode.UNIMPLEMENTED, f'stand-in: no {subresource} API')
      return server.status(name, version, label)

    def _predict(self, body: bytes) -> str:
      name, version, label, method = self._route(PREDICT_PATH)
      if method != 'predict':
        raise Refused(grpc.StatusCode.UNIMPLEMENTED, f'stand-in: no {method} API')
      request = _parse_json(body)
      signature_name = request.get('signature_name', '')
      if not isinstance(signature_name, str):
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "'signature_name' key must be a string "
                      'value.')
      servable = server.servable(name, version, label)
      signature = servable.signature_defs.get(signature_name or 'serving_default')
      if signature is None:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature name: '
                      f'"{signature_name or "serving_default"}" not found in signature def')
      dtypes = {name: tf.dtypes.as_dtype(info.dtype) for name, info in signature.inputs.items()}
      if 'instances' in request and 'inputs' in request:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "Not formatted correctly expecting "
                      "only one of 'inputs' or 'instances' keys to exist ")
      if 'instances' in request:
        row_format, inputs = True, _from_instances(request['instances'], dtypes)
      elif 'inputs' in request:
        row_format, inputs = False, _from_inputs(request['inputs'], dtypes)
      else:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "Missing 'inputs' or 'instances' key")
      outputs = server.predict(servable, signature_name, inputs)
      return json.dumps(_to_json(outputs, row_format))

    def log_message(self, *args):  # quiet
      pass

  return Handler


def _parse_json(body: bytes) -> dict:
  if not body:
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, 'JSON Parse error: The document is empty')
  try:
    request = json.loads(body)
  except ValueError as err:
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f'JSON Parse error: {err}') from err
  if not isinstance(request, dict):
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f'JSON Value: {body[:100]!r} Is not object')
  return request


def _is_b64(value) -> bool:  # json_tensor.cc IsValBase64Object
  return isinstance(value, dict) and len(value) == 1 and isinstance(value.get('b64'), str)


def _leaf(value, dtype: tf.DType):
  """json_tensor.cc FillTensorProto for one value: a string is its UTF-8 bytes, a
  {"b64": ...} object its decoded bytes."""
  if dtype != tf.string:
    raise Refused(grpc.StatusCode.UNIMPLEMENTED, f'stand-in: converts DT_STRING only, not '
                  f'{dtype.name}')
  if isinstance(value, dict):
    if not _is_b64(value):
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f'JSON Value: {json.dumps(value)} not '
                    'formatted correctly for base64 data')
    try:
      return base64.b64decode(value['b64'], validate=True)
    except (binascii.Error, ValueError) as err:
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT, 'Unable to base64 decode') from err
  if not isinstance(value, str):
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f'JSON Value: {json.dumps(value)} is not '
                  'of expected type: string')
  return value.encode('utf-8')


def _tensor(value, dtype: tf.DType) -> tf.Tensor:
  def convert(v):
    return [convert(item) for item in v] if isinstance(v, list) else _leaf(v, dtype)
  try:
    return tf.constant(convert(value), dtype=dtype)
  except ValueError as err:  # ragged lists
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f'Encountered list at unexpected size: '
                  f'{err}') from err


def _from_instances(instances, dtypes: Dict[str, tf.DType]) -> Dict[str, tf.Tensor]:
  """json_tensor.cc FillTensorMapFromInstancesList."""
  if not isinstance(instances, list):
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "Expecting 'instances' to be an list/array")
  if not instances:
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "No values in 'instances' array")
  named = isinstance(instances[0], dict) and not _is_b64(instances[0])
  if not named and len(dtypes) > 1:
    raise Refused(grpc.StatusCode.INVALID_ARGUMENT, 'instances is a plain list, but expecting '
                  'list of objects as multiple input tensors required as per tensorinfo_map')
  if not named:
    (name, dtype), = dtypes.items()
    return {name: _tensor(instances, dtype)}
  columns = {name: [] for name in dtypes}
  for i, item in enumerate(instances):
    if not isinstance(item, dict) or _is_b64(item) or set(item) != set(dtypes):
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f'Failed to process element: {i} of '
                    f"'instances' list. JSON object: {json.dumps(item)[:100]} keys must be "
                    f'equal to: {",".join(sorted(dtypes))}')
    for name in dtypes:
      columns[name].append(item[name])
  return {name: _tensor(column, dtypes[name]) for name, column in columns.items()}


def _from_inputs(inputs, dtypes: Dict[str, tf.DType]) -> Dict[str, tf.Tensor]:
  """json_tensor.cc FillTensorMapFromInputsMap: names that the signature lacks are ignored,
  a name that it has and the request lacks is refused."""
  if not isinstance(inputs, dict) or _is_b64(inputs):
    if len(dtypes) > 1:
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT, 'inputs is a plain value/list, but '
                    'expecting an object as multiple input tensors required as per '
                    'tensorinfo_map')
    (name, dtype), = dtypes.items()
    return {name: _tensor(inputs, dtype)}
  for name in dtypes:
    if name not in inputs:
      raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                    f"Missing named input: {name} in 'inputs' object.")
  return {name: _tensor(inputs[name], dtype) for name, dtype in dtypes.items()}


def _to_json(outputs: Dict[str, np.ndarray], row_format: bool) -> dict:
  """json_tensor.cc MakeJsonFromTensors. Python writes each float32 as the shortest decimal
  of its double, which reads back as the same float32, as TF Serving's WriteDecimal does."""
  def values(array, name):
    if array.dtype == object:  # DT_STRING; names ending in _bytes go as base64
      return np.vectorize(lambda b: ({'b64': base64.b64encode(b).decode()}
                                     if name.endswith('_bytes') else b.decode('utf-8')),
                          otypes=[object])(array).tolist()
    return array.tolist()
  columns = {name: values(array, name) for name, array in sorted(outputs.items())}
  if not row_format:
    return {'outputs': columns if len(columns) > 1 else next(iter(columns.values()))}
  rows = len(next(iter(columns.values())))
  if len(columns) == 1:
    return {'predictions': next(iter(columns.values()))}
  return {'predictions': [{name: column[i] for name, column in columns.items()}
                          for i in range(rows)]}


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
  """PredictionService.Predict (model_servers/prediction_service_impl.cc)."""

  def __init__(self, server: ModelServer):
    self.server = server

  def Predict(self, request, context):  # pylint: disable=invalid-name
    self.server.grpc_requests.append(predict_pb2.PredictRequest.FromString(
        request.SerializeToString()))
    spec = request.model_spec
    try:
      servable = self.server.servable(
          spec.name, spec.version.value if spec.HasField('version') else None,
          spec.version_label or None)
      inputs = _request_tensors(request)
      outputs = self.server.predict(servable, spec.signature_name, inputs)
    except Refused as refused:
      context.abort(refused.code, refused.message)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = spec.name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = spec.signature_name or 'serving_default'
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    return response

