"""The Trainer's multi-device path on a machine without a GPU: two logical CPU devices
that ``run_fn`` is handed as it would be two GPUs (``tests/two_replicas.py``, a fresh
process), so MirroredStrategy and mixed precision run as on two GPUs, and XLA as on one.

**Tolerances of the two-replica step.** Averaging two replicas' mean gradients gives the
global batch's mean gradient up to float32 rounding in another order of summation: a few
ulps of the terms summed, well under 1e-5 of the largest gradient. Two values linear in
the gradient are compared against UPDATE_TOLERANCE, 1e-4 of the largest value:

* SGD's update, ``-lr * g`` on the first step (momentum starts at 0), read as the
  weights after the step minus before, so it also carries float32's rounding of the
  weights themselves: one ulp of a weight under 0.125 is 7.45e-9, 1.6e-5 of the largest
  update (4.7e-4) here, and that is what was measured; the tolerance allows a few ulps.
* Adam's first moments, ``(1 - beta_1) * g``: the gradient Adam was given, held as is
  (measured: 4e-8 of the largest).

Summing the replicas' gradients instead, as Keras 3.6 does, doubles both: a difference of
the whole update, 1e4 times the tolerance.

Adam's weights are compared more loosely (ADAM_WEIGHT_TOLERANCE, 1e-2 of the learning
rate): its first update, ``lr * g / (|g| + eps)`` with ``eps`` 1e-7, divides each
gradient by its own size, so for a weight whose gradient lies within a few ``eps`` of 0
a rounding difference ``d`` moves the update by up to ``lr * d / (4 eps)``: 6.4e-4 of
``lr`` was measured. That division also makes Adam's update blind to the doubling, which
is why its moments are what catches it.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from preprocessing import contract
from tests import signatures
from trainer import presets

pytestmark = pytest.mark.slow  # trains and exports, twice over
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPDATE_TOLERANCE = 1e-4  # of the largest value compared; see above
ADAM_WEIGHT_TOLERANCE = 1e-2  # of the learning rate; see above


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  out = tmp_path_factory.mktemp('two_replicas')
  xla_dump = out / 'xla'
  done = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'tests', 'two_replicas.py'), str(out)],
      capture_output=True, text=True, timeout=900,
      env={**os.environ, 'PYTHONPATH': ROOT, 'TF_CPP_MIN_LOG_LEVEL': '2',
           'XLA_FLAGS': f'--xla_dump_to={xla_dump}'})
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
  with open(out / 'result.json') as f:
    result = json.load(f)
  with np.load(out / 'steps.npz') as steps:
    result['steps'] = dict(steps)
  with open(out / 'serving' / 'assets.extra' / 'palsy_model.json') as f:
    info = json.load(f)
  return {**result, 'out': out, 'log': done.stdout, 'info': info}


def _largest_difference(run, optimizer, kind):
  """The largest difference between the two replicas' and the one device's ``kind``
  (updates or moments) after the step with ``optimizer``, and the largest value."""
  two, one = (run['steps'][f'{optimizer}_{where}_{kind}'] for where in ('two', 'one'))
  return np.abs(two - one).max(), np.abs(one).max()


@pytest.mark.parametrize('optimizer,kind', [('sgd', 'updates'), ('adam', 'moments')])
def test_one_step_on_two_replicas_is_one_step_on_the_global_batch(run, optimizer, kind):
  difference, largest = _largest_difference(run, optimizer, kind)
  print(f'{optimizer} {kind}: largest difference {difference:.3g}, '
        f'{difference / largest:.3g} of the largest value {largest:.3g}')
  assert largest > 1e-6  # the step moved the weights
  assert difference <= UPDATE_TOLERANCE * largest


def test_adams_weights_after_a_step_on_two_replicas_are_those_on_one(run):
  difference, largest = _largest_difference(run, 'adam', 'updates')
  rate = presets.PRESETS['fp_vggface'].learning_rate
  print(f'adam updates: largest difference {difference:.3g}, {difference / rate:.3g} of the '
        'learning rate')
  assert largest == pytest.approx(rate, rel=1e-2)  # Adam's first step: about lr per weight
  assert difference <= ADAM_WEIGHT_TOLERANCE * rate


def test_run_fn_trains_on_two_replicas_with_mixed_precision(run):
  """``auto`` with two devices: what two GPUs get, mixed precision on and XLA off (see
  the last test). The log and the model's record say so."""
  placement = run['info']['placement']
  assert placement == {'devices': ['/cpu:0', '/cpu:1'], 'replicas': 2,
                       'mixed_precision': True, 'jit_compile': False}
  assert ('on 2 replica(s) on /cpu:0, /cpu:1 (MirroredStrategy), mixed precision on, '
          'XLA off') in run['log']


def test_xla_compiled_the_training_step_on_one_device(run):
  """``auto`` with one device (one GPU) turns XLA on, and XLA's dump
  (``--xla_dump_to``) then holds Keras's training step, which it did not before."""
  xla = run['xla']
  assert xla['jit_compile'] is True
  assert not any('one_step_on_data' in name for name in xla['before']), xla['before'][:20]
  assert any('one_step_on_data' in name for name in xla['after']), xla['after'][:20]


def test_xla_across_replicas_still_fails_in_this_keras(run):
  """Why ``auto`` leaves XLA off with several GPUs. When this fails, Keras runs an XLA
  step on each replica: let ``auto`` turn it on there (trainer/placement.py)."""
  assert run['xla_across_replicas'] is not None
  assert 'Trying to access resource' in run['xla_across_replicas']


def test_the_learning_rate_follows_the_replicas(run):
  """The demo's Adam: square-root scaling, warmed up over the first epoch (one step)."""
  rate = run['info']['learning_rate']
  assert rate == {'rule': 'square root', 'replicas': 2, 'base': 3e-4,
                  'peak': pytest.approx(3e-4 * 2 ** 0.5), 'warmup_steps': 1}
  assert (f'learning rate 0.0003 rising over 1 step(s) to {3e-4 * 2 ** 0.5:g} (square root '
          'scaling for 2 replicas, global batch 8)') in run['log']


def test_the_class_counts_came_from_ingests_summary(run):
  assert run['info']['class_counts_from'] == 'ingest summary'
  assert run['info']['train_examples_per_grade'] == [8, 8, 8, 0, 0, 0]


def test_the_exported_signatures_work(run):
  loaded = tf.saved_model.load(str(run['out'] / 'serving'))
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      str(run['out'] / 'Examples' / 'Split-eval' / 'data.gz'), 'GZIP')][:5]
  crops = [tf.train.Example.FromString(r).features.feature[contract.IMAGE].bytes_list.value[0]
           for r in records]
  outputs = signatures.call_all(loaded, records, crops)
  for name, out in outputs.items():
    probabilities = out[contract.OUTPUT_PROBABILITIES].numpy()
    assert probabilities.dtype == np.float32 and probabilities.shape == (5, 6), name
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(outputs[contract.SERVING_IMAGES][contract.OUTPUT_PROBABILITIES],
                             outputs[contract.SERVING_DEFAULT][contract.OUTPUT_PROBABILITIES],
                             rtol=1e-6)
  assert outputs[contract.SERVING_EXPLAIN][contract.OUTPUT_HEATMAPS].shape == (5, 32, 32)
