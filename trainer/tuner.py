"""The TFX Tuner's entry point: ``tuner_fn='trainer.tuner.tuner_fn'`` (``--tune``).

KerasTuner's grid or random search over the preset fields of ``trainer.search_space``.
Each trial trains the Trainer's model (``trainer.model.build_classifier``) on the train
split as the Trainer does (the same input, augmentation, class weights, seed and early
stopping) and is scored on the eval split by its lowest validation loss
(``search_space.OBJECTIVE``); the test split is never read. TFX's executor then writes
the best trial's values (``best_hyperparameters``), which the Trainer trains with, and
every trial's values and score (``tuner_results``), which the evidence report and the
model card list.

Why the validation loss and not the subject-level balanced accuracy: an eval split holds
few subjects (the demo's, one per grade), so that accuracy takes a handful of values and
trials tie on it; the loss is continuous, and it is what the Trainer's early stopping
watches. Trials train on one device (the first GPU, else the CPU) with the preset's
batch, in the arithmetic the Trainer's ``--mixed-precision`` and ``--jit-compile`` give one
device (``trainer.placement``); the Trainer then replicates over every GPU.
"""
import dataclasses
import math
from typing import Mapping, Optional, Sequence

import keras
import keras_tuner
from tfx import v1 as tfx

from preprocessing.crop_settings import DEFAULT_IMAGE_SIZE
from trainer import data, devices, placement, presets, search_space
from trainer.model import build_classifier

ALGORITHMS = {'grid': keras_tuner.GridSearch, 'random': keras_tuner.RandomSearch}


class PresetHyperModel(keras_tuner.HyperModel):
  """The preset's classifier with a trial's values of the searched fields. Every trial
  starts from the same seed (initial weights, dropout, data order, augmentation), so
  trials differ by their values alone."""

  def __init__(self, preset: presets.Preset, space: Mapping[str, Sequence], image_size: int,
               weights_path: str, seed: int, train_files, eval_files,
               steps_per_epoch: Optional[int], jit_compile: bool = False):
    super().__init__(name='palsy')
    self.preset, self.space, self.image_size = preset, space, image_size
    self.weights_path, self.seed = weights_path, seed
    self.train_files, self.eval_files, self.steps_per_epoch = (train_files, eval_files,
                                                               steps_per_epoch)
    self.jit_compile = jit_compile

  def build(self, hp):
    keras.utils.set_random_seed(self.seed)
    values = {name: hp.Choice(name, list(values)) for name, values in self.space.items()}
    return build_classifier(dataclasses.replace(self.preset, **values), self.image_size,
                            self.weights_path, jit_compile=self.jit_compile)

  def fit(self, hp, model, *args, **kwargs):
    keras.utils.set_random_seed(self.seed)
    p = self.preset
    train = data.dataset(self.train_files, self.image_size, p.normalisation, p.batch_size,
                         training=True, repeat=self.steps_per_epoch is not None,
                         seed=self.seed)
    eval_ = data.dataset(self.eval_files, self.image_size, p.normalisation, p.batch_size,
                         training=False)
    history = model.fit(train, *args, validation_data=eval_,
                        steps_per_epoch=self.steps_per_epoch, **kwargs)
    losses = history.history.get(search_space.OBJECTIVE, [])
    print(f'[tune] {", ".join(f"{k} {v:g}" for k, v in hp.values.items())}: lowest eval '
          f'loss {min(losses, default=math.nan):.4f} in {len(losses)} epoch(s)', flush=True)
    return history


def tuner_fn(fn_args) -> tfx.components.TunerFnResult:
  """The search that the custom_config's ``presets.CONFIG_TUNE`` settings describe
  (``search_space.settings``), over the model the rest of it describes."""
  config = dict(fn_args.custom_config or {})
  tune = config[presets.CONFIG_TUNE]
  preset = presets.resolve(config.get(presets.CONFIG_PRESET, presets.DEFAULT_PRESET),
                           config.get(presets.CONFIG_OVERRIDES, {}))
  seed = int(config.get(presets.CONFIG_SEED, presets.DEFAULT_SEED))
  devices.check()  # stops a search that must run on a GPU and sees none
  placed = placement.choose(
      placement.gpus()[:1], config.get(presets.CONFIG_MIXED_PRECISION,
                                       presets.DEFAULT_MIXED_PRECISION),
      config.get(presets.CONFIG_JIT_COMPILE, presets.DEFAULT_JIT_COMPILE))
  steps = (max(1, math.ceil(fn_args.train_steps / tune['epochs'])) if fn_args.train_steps
           else None)
  image_size = int(config.get(presets.CONFIG_IMAGE_SIZE, DEFAULT_IMAGE_SIZE))
  hypermodel = PresetHyperModel(
      preset, search_space.in_order(tune['space']), image_size,
      config.get(presets.CONFIG_WEIGHTS, ''), seed, fn_args.train_files, fn_args.eval_files,
      steps, placed.jit_compile)
  tuner = ALGORITHMS[tune['algorithm']](
      hypermodel, objective=keras_tuner.Objective(search_space.OBJECTIVE, 'min'),
      max_trials=tune['trials'], seed=seed, directory=fn_args.working_dir,
      project_name='palsy', overwrite=True,
      distribution_strategy=placed.strategy if placed.devices else None)
  print(f'[tune] {tune["algorithm"]} search, {tune["trials"]} trial(s) of at most '
        f'{tune["epochs"]} epoch(s) over {tune["space"]}; objective: the lowest '
        f'{search_space.OBJECTIVE} on the {search_space.SPLIT} split; on {placed.describe()}',
        flush=True)
  weights = data.class_weights(data.train_class_counts(fn_args.train_files)[0])
  callbacks = [keras.callbacks.EarlyStopping(monitor=search_space.OBJECTIVE,
                                             patience=preset.patience)]
  return tfx.components.TunerFnResult(
      tuner=tuner, fit_kwargs={'epochs': tune['epochs'], 'class_weight': weights,
                               'callbacks': callbacks, 'verbose': 0})
