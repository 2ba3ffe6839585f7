"""The exported SavedModel and its serving signatures.

* ``serving_default``: serialized tf.Examples (``examples``), as TFMA and gRPC callers send.
* ``serving_images``: encoded JPEG/PNG bytes (``images``); over TF Serving's REST API they
  arrive as ``{"b64": ...}``.
* ``serving_explain``: ``images`` as for serving_images, and also ``heatmaps`` [n, size,
  size] in [0, 1]: the Grad-CAM of each crop's grade (``trainer.gradcam``), for
  ``palsy-tfx predict --explain``. It computes a gradient, so it costs about twice as much.
All run preprocessing.image_ops.preprocess_bytes, so the same face gives the same
probabilities each way, and all return ``probabilities`` (softmax over the six grades)
and ``grade`` (the name of the most probable grade). Every name above is a constant of
``preprocessing.contract``, which the callers read too.
"""
import json
import posixpath

import keras
import tensorflow as tf

from preprocessing import contract, crop_settings, image_ops
from preprocessing.labels import GRADES
from trainer import gradcam


class ServingModule(tf.Module):
  """Wraps the Keras classifier with its preprocessing for TF Serving."""

  def __init__(self, model: keras.Model, image_size: int, normalisation: str):
    super().__init__()
    self.model = model
    self.image_size = image_size
    self.normalisation = normalisation
    self.grade_names = tf.constant(GRADES)
    self.cam, self.mirrored = gradcam.cam_model(model)

  def _predict(self, image_bytes):
    images = image_ops.preprocess_bytes(image_bytes, self.image_size, self.normalisation)
    probabilities = tf.cast(self.model(images, training=False), tf.float32)
    grade = tf.gather(self.grade_names, tf.argmax(probabilities, axis=1))
    return {contract.OUTPUT_PROBABILITIES: probabilities, contract.OUTPUT_GRADE: grade}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name=contract.INPUT_EXAMPLES)])
  def serve_examples(self, examples):
    parsed = tf.io.parse_example(examples,
                                 {contract.IMAGE: tf.io.FixedLenFeature([], tf.string)})
    return self._predict(parsed[contract.IMAGE])

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name=contract.INPUT_IMAGES)])
  def serve_images(self, images):
    return self._predict(images)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name=contract.INPUT_IMAGES)])
  def serve_explain(self, images):
    normalised = image_ops.preprocess_bytes(images, self.image_size, self.normalisation)
    probabilities, heatmaps = gradcam.explain(self.cam, self.mirrored, normalised,
                                              self.image_size)
    grade = tf.gather(self.grade_names, tf.argmax(probabilities, axis=1))
    return {contract.OUTPUT_PROBABILITIES: probabilities, contract.OUTPUT_GRADE: grade,
            contract.OUTPUT_HEATMAPS: heatmaps}


def export(model: keras.Model, export_dir: str, image_size: int, normalisation: str,
           metadata: dict) -> None:
  """Save a SavedModel with its three signatures and ``palsy_model.json`` beside it."""
  module = ServingModule(model, image_size, normalisation)
  tf.saved_model.save(module, export_dir, signatures={
      contract.SERVING_DEFAULT: module.serve_examples,
      contract.SERVING_IMAGES: module.serve_images,
      contract.SERVING_EXPLAIN: module.serve_explain,
  })
  info_path = posixpath.join(export_dir, crop_settings.MODEL_INFO_FILE)
  tf.io.gfile.makedirs(posixpath.dirname(info_path))
  with tf.io.gfile.GFile(info_path, 'w') as f:
    json.dump(metadata, f, indent=2)
