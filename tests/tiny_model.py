"""A small real SavedModel, exported by the Trainer's own ``trainer.export``, for tests of
prediction and serving that need a model but not a trained one. Like a trained model's,
it carries TF Serving's warmup requests (made from ``crops``) and the responses the
exporting process computed for them."""
import json
import os
import shutil

import numpy as np

from preprocessing import contract, crop_settings, referral

CROP = crop_settings.CropSettings(size=48)


def crops(n: int = 4, seed: int = 0) -> list:
  """``n`` different JPEG crops of smooth random colour fields (48 px, ``CROP``'s size)."""
  import cv2  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  fields = [cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (48, 48))
            for _ in range(n)]
  return [cv2.imencode('.jpg', f)[1].tobytes() for f in fields]


def save(export_dir: str, with_crop_record: bool = True, seed: int = 0) -> str:
  """Random weights (``seed``) over 32 px inputs; ``palsy_model.json`` with the crop
  record unless ``with_crop_record`` is False (a model from before the record existed)."""
  import keras  # pylint: disable=g-import-not-at-top
  from trainer import export, ood  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  inputs = keras.Input((32, 32, 3))
  hidden = keras.layers.Conv2D(4, 5, strides=4, activation='relu')(inputs)
  # The layer names of trainer.model's head, which serving_explain's Grad-CAM looks for.
  pooled = keras.layers.GlobalAveragePooling2D(name='head_pool')(hidden)
  outputs = keras.layers.Dense(6, activation='softmax', name='probabilities')(pooled)
  info = {'preset': 'tiny'}
  if with_crop_record:
    info['crop_settings'] = json.loads(crop_settings.to_json(CROP, {'yfp': 5.0}, 2.0))
  # A guard over the 4 pooled features, fitted on made-up features of two grades: scores
  # that are not NaN, for the tests that compare routes.
  rng = np.random.default_rng(0)
  guard = ood.fit(rng.normal(0.5, 0.2, (40, 4)), np.repeat([0, 2], 20))
  info['referral'] = referral.Rules(ood_threshold=2.0, min_confidence=0.2).as_dict()
  export.export(keras.Model(inputs, outputs), export_dir, 32, 'paper', info, guard=guard,
                warmup_crops=crops())
  return export_dir


def without_explain(export_dir: str, out_dir: str) -> str:
  """The model saved again with ``serving_images`` only and the same ``assets.extra`` but
  for the warmup files, as a model exported before Grad-CAM had ``serving_explain``."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(export_dir)
  tf.saved_model.save(loaded, out_dir,
                      signatures={'serving_images': loaded.signatures['serving_images']})
  # Not the warmup files: that model had none, and these name serving_explain.
  shutil.copytree(os.path.join(export_dir, 'assets.extra'), os.path.join(out_dir, 'assets.extra'),
                  ignore=shutil.ignore_patterns(*(os.path.basename(f) for f in (
                      contract.WARMUP_FILE, contract.WARMUP_RESPONSES_FILE))))
  return out_dir
