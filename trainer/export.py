"""The exported SavedModel and its serving signatures.

* ``serving_default``: serialized tf.Examples (``examples``), as TFMA and gRPC callers send.
* ``serving_images``: encoded JPEG/PNG bytes (``images``); over TF Serving's REST API they
  arrive as ``{"b64": ...}``.
* ``serving_explain``: ``images`` as for serving_images, and also ``heatmaps`` [n, size,
  size] in [0, 1]: the Grad-CAM of each crop's grade (``trainer.gradcam``), for
  ``palsy-tfx predict --explain``. It computes a gradient, so it costs about twice as much.
All run preprocessing.image_ops.preprocess_bytes, so the same face gives the same
probabilities each way, and all return ``probabilities`` (the calibrated softmax over the
six grades, ``softmax(logits / T)``), ``logits`` (the scores before it, uncalibrated) and
``grade`` (the name of the most probable grade, which ``T`` does not change). ``T`` is the
temperature the Trainer fitted on the eval split (``trainer.calibration``), stored in the
SavedModel as the variable ``temperature``; so ``predict``, the TF Serving clients, the
Evaluator and the evidence report all read calibrated probabilities. All return
``ood_score`` too: the out-of-distribution guard's score of each crop (``trainer.ood``),
computed in the graph from the same preprocessed crop's pooled features, with the guard's
constants (``ood_means``, ``ood_precision``) stored as variables; NaN from a model
exported without a guard. ``serving_default``, the signature TFMA evaluates, also returns
``referral_rules``: the model's referral thresholds (``preprocessing.referral.Rules``) on
every row, because the Evaluator sees only a signature's outputs and must refer the test
subjects by the rule of the model it judges. Every name above is a constant of
``preprocessing.contract``, which the callers read too.

Given ``warmup_crops``, the export also carries TF Serving's warmup file
(``contract.WARMUP_FILE``: one request per signature with those crops, so a server is warm
before its first client) and the responses this process computed for the same requests
with the Keras model (``contract.WARMUP_RESPONSES_FILE``), which the ServingCheck compares
with what a fresh process that loads the SavedModel answers (``preprocessing.warmup``).
They are computed on the CPU, where TF Serving runs the model (kubeflow/serving/).
"""
import json
import posixpath
from typing import Callable, Dict, Optional, Sequence

import keras
import tensorflow as tf

from preprocessing import contract, crop_settings, image_ops, referral, warmup
from preprocessing.labels import GRADES
from trainer import gradcam, model as model_lib, ood


class ServingModule(tf.Module):
  """Wraps the Keras classifier with its preprocessing for TF Serving."""

  def __init__(self, model: keras.Model, image_size: int, normalisation: str,
               temperature: float, guard: Optional[ood.Guard] = None,
               rules: referral.Rules = referral.Rules()):
    super().__init__()
    self.model = model
    self.image_size = image_size
    self.normalisation = normalisation
    self.grade_names = tf.constant(GRADES)
    self.temperature = tf.Variable(temperature, dtype=tf.float32, trainable=False,
                                   name='temperature')
    # float64, as trainer.ood computes: the precision of a tied covariance of hundreds of
    # features can be ill-conditioned, and the score's quadratic form then loses digits
    # in float32.
    self.ood_means = self.ood_precision = None
    if guard is not None:
      self.ood_means = tf.Variable(guard.means, dtype=tf.float64, trainable=False,
                                   name='ood_means')
      self.ood_precision = tf.Variable(guard.precision, dtype=tf.float64, trainable=False,
                                       name='ood_precision')
    self.referral_rules = tf.constant([rules.as_row()], tf.float32)
    self.softmax = model.get_layer(contract.OUTPUT_PROBABILITIES)
    self.scores = model_lib.scores_function(model)
    self.cam, self.mirrored = gradcam.cam_model(model)

  def _ood_score(self, features):
    """[n] float32 ``trainer.ood.score`` of the crops' pooled features."""
    if self.ood_means is None:
      return tf.fill(tf.shape(features)[:1], float('nan'))
    diff = tf.cast(features, tf.float64)[:, None, :] - self.ood_means[None]
    squared = tf.reduce_sum(tf.einsum('nkd,de->nke', diff, self.ood_precision) * diff, -1)
    return tf.cast(tf.sqrt(tf.maximum(tf.reduce_min(squared, axis=1), 0.0)), tf.float32)

  def _outputs(self, logits, features):
    """Every signature's outputs from the crops' logits and pooled features: one place
    that calibrates and scores the guard."""
    return {contract.OUTPUT_PROBABILITIES: tf.nn.softmax(logits / self.temperature),
            contract.OUTPUT_LOGITS: logits,
            contract.OUTPUT_GRADE: tf.gather(self.grade_names, tf.argmax(logits, axis=1)),
            contract.OUTPUT_OOD_SCORE: self._ood_score(features)}

  def _predict(self, image_bytes):
    images = image_ops.preprocess_bytes(image_bytes, self.image_size, self.normalisation)
    return self._outputs(*self.scores(images))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name=contract.INPUT_EXAMPLES)])
  def serve_examples(self, examples):
    parsed = tf.io.parse_example(examples,
                                 {contract.IMAGE: tf.io.FixedLenFeature([], tf.string)})
    rules = tf.tile(self.referral_rules, [tf.shape(examples)[0], 1])
    return {**self._predict(parsed[contract.IMAGE]), contract.OUTPUT_REFERRAL_RULES: rules}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name=contract.INPUT_IMAGES)])
  def serve_images(self, images):
    return self._predict(images)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name=contract.INPUT_IMAGES)])
  def serve_explain(self, images):
    normalised = image_ops.preprocess_bytes(images, self.image_size, self.normalisation)
    logits, features, heatmaps = gradcam.explain(self.softmax, self.cam, self.mirrored,
                                                 normalised, self.image_size)
    return {**self._outputs(logits, features), contract.OUTPUT_HEATMAPS: heatmaps}


def signatures(module: ServingModule) -> Dict[str, Callable]:
  """The module's function behind each signature name of ``contract.SIGNATURES``."""
  return {contract.SERVING_DEFAULT: module.serve_examples,
          contract.SERVING_IMAGES: module.serve_images,
          contract.SERVING_EXPLAIN: module.serve_explain}


def write_warmup(module: ServingModule, export_dir: str, crops: Sequence[bytes]) -> None:
  """The warmup requests for ``crops`` and this process's responses to them."""
  logs = warmup.requests(crops)
  functions = signatures(module)
  with tf.device('/CPU:0'):
    responses = [warmup.response(log.predict_log.request.model_spec.signature_name,
                                 functions[log.predict_log.request.model_spec.signature_name](
                                     **warmup.request_inputs(log.predict_log.request)))
                 for log in logs]
  warmup.write_records(posixpath.join(export_dir, contract.WARMUP_FILE), logs)
  warmup.write_records(posixpath.join(export_dir, contract.WARMUP_RESPONSES_FILE), responses)


def export(model: keras.Model, export_dir: str, image_size: int, normalisation: str,
           metadata: dict, temperature: float = 1.0, guard: Optional[ood.Guard] = None,
           rules: referral.Rules = referral.Rules(), warmup_crops: Sequence[bytes] = ()
           ) -> None:
  """Save a SavedModel with its three signatures and ``palsy_model.json`` beside it.
  ``temperature``: the calibration's ``T``; 1 serves the network's own softmax.
  ``guard``: the out-of-distribution guard's constants; None scores every crop NaN.
  ``rules``: the referral thresholds, for ``serving_default``'s ``referral_rules``.
  ``warmup_crops``: encoded face crops for the warmup file; none, no warmup file (the
  ServingCheck then refuses the model)."""
  module = ServingModule(model, image_size, normalisation, temperature, guard, rules)
  tf.saved_model.save(module, export_dir, signatures=signatures(module))
  info_path = posixpath.join(export_dir, crop_settings.MODEL_INFO_FILE)
  tf.io.gfile.makedirs(posixpath.dirname(info_path))
  with tf.io.gfile.GFile(info_path, 'w') as f:
    json.dump(metadata, f, indent=2)
  if warmup_crops:
    write_warmup(module, export_dir, warmup_crops)
