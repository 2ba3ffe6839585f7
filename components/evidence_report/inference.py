"""The report's predictions on Beam: ``RunInference`` of the model's ``serving_default``
signature over the evaluated split.

A clinic's test split can hold more frames than one process should keep, so it is never
read into one list: Beam reads the gzip TFRecords, each worker loads the SavedModel once
and grades batches of serialized examples, and only a compact row per frame (its label,
subject, video, source, grade probabilities and, where the model has them, the logits
before its calibrated softmax; no image) is written out, for
``predictions.read_frames`` to read back. Everything the report computes from them needs
every frame's probabilities at once (exact ROC curves) or is small (per-video means), so
those few numbers per frame are what comes back.

``apache_beam.ml.inference.tensorflow_inference`` would do the loading, but it imports
tensorflow_hub, which does not import in our environment; the handler here is a few
lines and names the signature and tensors through ``preprocessing.contract``.
"""
import os
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.ml.inference import base

from components.evidence_report import predictions
from preprocessing import contract

# Examples per call of the signature: the batch the report's predictions always used.
PREDICT_BATCH = 256
_ROWS = 'frames'  # file prefix of the compact rows in the work directory


class ServingDefault(base.ModelHandler[bytes, Any, Callable]):
  """Serialized tf.Examples in; out per example its (K,) float32 probabilities, its (K,)
  logits and its ``ood_score``, each None for a model exported without that output."""

  def __init__(self, serving_model_dir: str):
    super().__init__()
    self._dir = serving_model_dir

  def load_model(self) -> Callable:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf.saved_model.load(self._dir).signatures[contract.SERVING_DEFAULT]

  def run_inference(self, batch: Sequence[bytes], model: Callable,
                    inference_args: Optional[Dict[str, Any]] = None
                    ) -> Iterable[base.PredictionResult]:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    outputs = model(**{contract.INPUT_EXAMPLES: tf.constant(list(batch))})
    probabilities = outputs[contract.OUTPUT_PROBABILITIES].numpy()
    logits, ood = ((outputs[name].numpy() if name in outputs else [None] * len(batch))
                   for name in (contract.OUTPUT_LOGITS, contract.OUTPUT_OOD_SCORE))
    return [base.PredictionResult(example, answer)
            for example, answer in zip(batch, zip(probabilities, logits, ood))]

  def get_num_bytes(self, batch: Sequence[bytes]) -> int:
    return sum(len(example) for example in batch)

  def batch_elements_kwargs(self) -> Mapping[str, Any]:
    # Fixed batches, as the signature was always called: a batch of one (Beam's
    # adaptive start) would load every worker with thousands of tiny calls.
    return {'min_batch_size': PREDICT_BATCH, 'max_batch_size': PREDICT_BATCH}


def _keyed(serialized: bytes) -> Tuple[tuple, bytes]:
  """(label, subject, video, source) of the example, which the prediction keeps, and
  the example itself for the model."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  feature = tf.train.Example.FromString(serialized).features.feature

  def text(name):
    return feature[name].bytes_list.value[0].decode()

  return ((feature[contract.LABEL].int64_list.value[0], text(contract.SUBJECT_ID),
           text(contract.VIDEO_ID), text(contract.SOURCE)), serialized)


def _row(keyed_result: Tuple[tuple, base.PredictionResult]) -> str:
  key, result = keyed_result
  return predictions.frame_row(*key, *result.inference)


def frame_predictions(pipeline: beam.Pipeline, split_uri: str, serving_model_dir: str,
                      work_dir: str) -> predictions.Frames:
  """Runs ``pipeline`` (not yet run) to grade every example of ``split_uri`` and returns
  the frames. The rows pass through ``work_dir``, which must be reachable by the
  pipeline's workers (beside the output artifact, as ingest's statistics are) and is
  removed afterwards."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  prefix = os.path.join(work_dir, _ROWS)
  if tf.io.gfile.exists(work_dir):  # a retry's: its shards would be read as frames too
    tf.io.gfile.rmtree(work_dir)
  with pipeline as p:
    _ = (p | 'Read' >> beam.io.ReadFromTFRecord(
             os.path.join(split_uri, '*'),
             compression_type=beam.io.filesystem.CompressionTypes.GZIP)
         | 'Key' >> beam.Map(_keyed)
         | 'Predict' >> base.RunInference(
             base.KeyedModelHandler(ServingDefault(serving_model_dir)))
         | 'Row' >> beam.Map(_row)
         | 'Write' >> beam.io.WriteToText(prefix))
  frames = predictions.read_frames(prefix + '*')
  tf.io.gfile.rmtree(work_dir)
  return frames
