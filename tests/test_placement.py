"""How the Trainer places its training (``trainer.placement``) and the learning rate
that follows the replicas (``trainer.optimizers``), without training: the choices, the
rule's values, and the options that carry them from the command line."""
import math
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline import options
from trainer import optimizers, placement, presets, task


@pytest.fixture(autouse=True)
def float32_after():
  yield
  keras.mixed_precision.set_global_policy('float32')


def test_on_the_cpu_auto_means_neither_mixed_precision_nor_xla():
  placed = placement.choose([])
  assert (placed.replicas, placed.mixed_precision, placed.jit_compile) == (1, False, False)
  assert placed.strategy is tf.distribute.get_strategy()
  assert keras.mixed_precision.global_policy().name == 'float32'
  assert placed.describe() == 'the CPU, mixed precision off, XLA off'


def test_with_one_device_auto_means_both_and_a_mirrored_strategy():
  """Any device list is replicated over; one device is all this process has."""
  placed = placement.choose(['/cpu:0'])
  assert isinstance(placed.strategy, tf.distribute.MirroredStrategy)
  assert (placed.replicas, placed.mixed_precision, placed.jit_compile) == (1, True, True)
  assert keras.mixed_precision.global_policy().name == 'mixed_float16'
  placed = placement.choose(['/cpu:0'], mixed_precision='off', jit_compile='off')
  assert (placed.mixed_precision, placed.jit_compile) == (False, False)
  assert keras.mixed_precision.global_policy().name == 'float32'
  assert placement.choose([], 'on', 'on').record() == {
      'devices': [], 'replicas': 1, 'mixed_precision': True, 'jit_compile': True}


def test_with_several_devices_auto_leaves_xla_off_and_on_warns():
  """Keras 3.6 cannot run an XLA step on each of several replicas (placement's docstring;
  tests/test_multi_device.py shows it failing)."""
  assert placement.switches(2) == (True, False)
  assert placement.switches(8, 'off', 'auto') == (False, False)
  assert placement.switches(2, jit_compile='on') == (True, True)
  assert placement.switches(0) == (False, False)
  two = types.SimpleNamespace(num_replicas_in_sync=2)
  assert placement.Placement(two, ('/gpu:0', '/gpu:1'), True, False).warning() is None
  warning = placement.Placement(two, ('/gpu:0', '/gpu:1'), True, True).warning()
  assert warning.startswith('--jit-compile on over 2 replicas') and '#19005' in warning
  assert placement.choose(['/cpu:0'], jit_compile='on').warning() is None


def test_a_bad_switch_is_refused_with_its_flag():
  with pytest.raises(ValueError, match="--jit-compile must be one of auto, on, off, got 'yes'"):
    placement.choose([], jit_compile='yes')
  with pytest.raises(ValueError, match='--mixed-precision must be one of'):
    options.ModelOptions(mixed_precision='fp16')


def test_the_switches_reach_the_trainers_custom_config():
  config = options.ModelOptions(preset='demo', jit_compile='on',
                                mixed_precision='off').custom_config()
  assert (config[presets.CONFIG_JIT_COMPILE], config[presets.CONFIG_MIXED_PRECISION]) == (
      'on', 'off')
  defaults = options.ModelOptions().custom_config()
  assert (defaults['jit_compile'], defaults['mixed_precision']) == ('auto', 'auto')


def _parse(*argv):
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser()
  options.ModelOptions.add_args(parser)
  return options.ModelOptions.from_args(parser.parse_args(list(argv)))


def test_the_flags():
  assert _parse('--jit-compile', 'off', '--mixed-precision', 'on').jit_compile == 'off'
  assert _parse().mixed_precision == 'auto'
  with pytest.raises(SystemExit):
    _parse('--jit-compile', 'maybe')


def test_one_replica_keeps_the_presets_rate():
  preset = presets.PRESETS['resnet50']
  rate, record = optimizers.learning_rate(preset, replicas=1, warmup_steps=50)
  assert rate == preset.learning_rate
  assert record == {'rule': 'linear', 'replicas': 1, 'base': 1e-4, 'peak': 1e-4,
                    'warmup_steps': 0}
  assert task.describe_rate(record, 32) == "learning rate 0.0001 (one replica: the preset's)"


@pytest.mark.parametrize('name,replicas,peak', [('resnet50', 4, 4e-4),  # SGD: linear
                                                ('fp_vggface', 4, 2e-3)])  # Adam: sqrt
def test_more_replicas_warm_up_to_the_scaled_rate(name, replicas, peak):
  preset = presets.PRESETS[name]
  rate, record = optimizers.learning_rate(preset, replicas, warmup_steps=10)
  assert record['peak'] == pytest.approx(peak) and record['warmup_steps'] == 10
  values = [float(rate(step)) for step in (0, 5, 10, 11, 1000)]
  base = preset.learning_rate
  np.testing.assert_allclose(values, [base, (base + peak) / 2, peak, peak, peak], rtol=1e-6)


def test_the_rule_is_logged():
  _, record = optimizers.learning_rate(presets.PRESETS['fp_vggface'], 2, warmup_steps=7)
  assert task.describe_rate(record, 64) == (
      f'learning rate 0.001 rising over 7 step(s) to {1e-3 * math.sqrt(2):g} (square root '
      'scaling for 2 replicas, global batch 64)')


def test_the_optimisers_are_the_presets():
  adam, _ = optimizers.build(presets.PRESETS['fp_vggface'])
  sgd, _ = optimizers.build(presets.PRESETS['resnet50'], replicas=2, warmup_steps=3)
  assert isinstance(adam, keras.optimizers.Adam) and isinstance(sgd, keras.optimizers.SGD)
  assert sgd.momentum == 0.9 and isinstance(sgd._learning_rate, optimizers.ReplicaWarmup)
