"""The Trainer's optimisers, and the learning rate that follows the replicas.

Each replica takes the preset's ``batch_size``, so N replicas train on a global batch N
times larger, in N times fewer steps per epoch. Two things follow:

* **Keras 3.6 sums the replicas' gradients** of each replica's own mean loss
  (``TFOptimizer._all_reduce_sum_gradients``), so N replicas step along N times the
  global batch's mean gradient: for SGD, an N-fold learning rate that nobody chose
  (keras-team/keras#19891; Keras 3.8 divides the loss by N instead, PR #20609, and then
  ``_MeanOverReplicas`` must go: tests/test_multi_device.py fails when it divides twice).
  The ``Adam`` and ``SGD`` here divide that sum by N, so one step on N replicas is the
  step one device takes on the same global batch.
* **The rule** (``learning_rate``): with N > 1 replicas the rate starts at the preset's,
  the rate its batch size was chosen with, and rises linearly over the first epoch's
  steps to ``N x`` it for SGD (the linear scaling rule with gradual warm-up, Goyal et
  al. 2017, "Accurate, Large Minibatch SGD") or ``sqrt(N) x`` it for Adam (square-root
  scaling for adaptive methods, Malladi et al., NeurIPS 2022), and stays there. On one
  replica it is the preset's rate, unchanged. The Trainer logs it and records it in
  ``palsy_model.json`` under ``learning_rate``.
"""
import math
from typing import Tuple, Union

import keras
import tensorflow as tf

from trainer.presets import Preset

# How the peak rate grows with the replicas, per optimiser.
RULES = {'sgd': ('linear', lambda n: float(n)), 'adam': ('square root', math.sqrt)}


class _MeanOverReplicas:
  """All-reduce the replicas' gradients to their mean, not their sum (see above)."""

  def _all_reduce_sum_gradients(self, grads_and_vars):
    reduced = super()._all_reduce_sum_gradients(grads_and_vars)
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
      return reduced
    return [(g if g is None else g / replicas, v) for g, v in reduced]


class Adam(_MeanOverReplicas, keras.optimizers.Adam):
  pass


class SGD(_MeanOverReplicas, keras.optimizers.SGD):
  pass


class ReplicaWarmup(keras.optimizers.schedules.LearningRateSchedule):
  """``base`` at step 0, rising linearly to ``peak`` at ``warmup_steps``, then ``peak``."""

  def __init__(self, base: float, peak: float, warmup_steps: int):
    self.base, self.peak, self.warmup_steps = float(base), float(peak), int(warmup_steps)

  def __call__(self, step):
    done = keras.ops.minimum(keras.ops.cast(step, 'float32') / self.warmup_steps, 1.0)
    return self.base + (self.peak - self.base) * done

  def get_config(self):
    return {'base': self.base, 'peak': self.peak, 'warmup_steps': self.warmup_steps}


def learning_rate(preset: Preset, replicas: int, warmup_steps: int
                  ) -> Tuple[Union[float, ReplicaWarmup], dict]:
  """The rate (a float on one replica, else a ``ReplicaWarmup``) and its record."""
  rule, factor = RULES[preset.optimizer]
  peak = preset.learning_rate * factor(replicas)
  record = {'rule': rule, 'replicas': replicas, 'base': preset.learning_rate,
            'peak': peak, 'warmup_steps': 0 if replicas == 1 else max(1, warmup_steps)}
  if replicas == 1:
    return preset.learning_rate, record
  return ReplicaWarmup(preset.learning_rate, peak, record['warmup_steps']), record


def build(preset: Preset, replicas: int = 1, warmup_steps: int = 1
          ) -> Tuple[keras.optimizers.Optimizer, dict]:
  """The preset's optimiser at the rate ``learning_rate`` gives, and that rate's record."""
  if preset.optimizer not in RULES:
    raise ValueError(f'unknown optimizer {preset.optimizer!r}; choose one of '
                     f'{", ".join(RULES)}')
  rate, record = learning_rate(preset, replicas, warmup_steps)
  optimizer = Adam(rate) if preset.optimizer == 'adam' else SGD(rate, momentum=0.9)
  return optimizer, record
