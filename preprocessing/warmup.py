"""TF Serving's warmup file, and the responses that the Trainer expects for it.

TF Serving replays ``assets.extra/tf_serving_warmup_requests`` when it loads a version
(servables/tensorflow/saved_model_warmup_util.cc), so the first client does not pay for
graph initialisation; a record it cannot parse, a file that is not a TFRecord, more than
``MAX_RECORDS`` records, or a request the model refuses stops that version's load. The
Trainer writes one request per serving signature with a few real crops
(``trainer/export.py``), and beside it the responses it computed for them in its own
process; the ServingCheck (``components/serving_check``) replays the requests in a fresh
process and compares. Both files are uncompressed TFRecords, as TF Serving reads them.

Here: building the requests, writing and reading both files with errors that name the
file and the record, and the tensor conversions. TensorFlow and TF Serving's protos only.
"""
import posixpath
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from preprocessing import contract

MAX_RECORDS = 1000  # WarmupConsts::kMaxNumRecords


class WarmupError(ValueError):
  """A warmup file (or its expected responses) that TF Serving or the check cannot use."""


def image_example(image: bytes) -> bytes:
  """A serialized tf.Example with the crop alone: what ``serving_default`` parses, and
  nothing about the subject (no label, pseudonym or video) travels with the model."""
  return tf.train.Example(features=tf.train.Features(feature={
      contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))
  })).SerializeToString()


def requests(crops: Sequence[bytes], signatures: Sequence[str] = contract.SIGNATURES
             ) -> List[prediction_log_pb2.PredictionLog]:
  """One PredictLog per signature, each with every crop (encoded JPEG/PNG bytes) in
  the signature's input (``contract.SIGNATURE_INPUTS``). The model spec names the
  signature and no model: the served name is the deployment's."""
  if not crops:
    raise WarmupError('no crops for the warmup requests')
  logs = []
  for signature in signatures:
    values = [image_example(c) for c in crops] if (
        contract.SIGNATURE_INPUTS[signature] == contract.INPUT_EXAMPLES) else list(crops)
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature
    request.inputs[contract.SIGNATURE_INPUTS[signature]].CopyFrom(
        tf.make_tensor_proto(values, dtype=tf.string))
    logs.append(prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)))
  return logs


def write_records(path: str, messages) -> None:
  """An uncompressed TFRecord of the serialized protos, in order."""
  tf.io.gfile.makedirs(posixpath.dirname(path) or '.')
  with tf.io.TFRecordWriter(path) as writer:
    for message in messages:
      writer.write(message.SerializeToString())


def _records(path: str) -> List[bytes]:
  if not tf.io.gfile.exists(path):
    raise WarmupError(f'{path}: no such file')
  try:
    return [r.numpy() for r in tf.data.TFRecordDataset([path])]
  except tf.errors.DataLossError as err:  # TF Serving: DataLoss, "verify ... TFRecord format"
    raise WarmupError(f'{path}: not a TFRecord file ({err.message})') from err


def read_requests(path: str) -> List[prediction_log_pb2.PredictionLog]:
  """The PredictionLogs of a warmup file, refused where TF Serving refuses them."""
  records = _records(path)
  if len(records) > MAX_RECORDS:
    raise WarmupError(f'{path}: {len(records)} records, more than the {MAX_RECORDS} that '
                      'TF Serving replays')
  logs = []
  for i, record in enumerate(records):
    try:
      logs.append(prediction_log_pb2.PredictionLog.FromString(record))
    except Exception as err:  # protobuf's DecodeError
      raise WarmupError(f'{path}: record {i} is not a PredictionLog ({err})') from err
  return logs


def read_responses(path: str) -> List[predict_pb2.PredictResponse]:
  """The expected PredictResponses, record i answering warmup request i."""
  responses = []
  for i, record in enumerate(_records(path)):
    try:
      responses.append(predict_pb2.PredictResponse.FromString(record))
    except Exception as err:  # protobuf's DecodeError
      raise WarmupError(f'{path}: record {i} is not a PredictResponse ({err})') from err
  return responses


def request_inputs(request: predict_pb2.PredictRequest) -> Dict[str, tf.Tensor]:
  """The request's tensors, as TF Serving hands them to the signature."""
  return {name: tf.constant(tf.make_ndarray(proto), dtype=tf.dtypes.as_dtype(proto.dtype))
          for name, proto in request.inputs.items()}


def response(signature: str, outputs: Dict[str, tf.Tensor]) -> predict_pb2.PredictResponse:
  """A PredictResponse holding a signature's outputs, as TF Serving answers."""
  answer = predict_pb2.PredictResponse()
  answer.model_spec.signature_name = signature
  for name, value in outputs.items():
    answer.outputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
  return answer


def response_outputs(answer: predict_pb2.PredictResponse) -> Dict[str, np.ndarray]:
  return {name: tf.make_ndarray(proto) for name, proto in answer.outputs.items()}
