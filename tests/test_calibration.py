"""Temperature scaling (trainer/calibration.py): the fitted T against a closed form and
against a minimisation of the test's own, T = 1 changing nothing, the Trainer's fit on a
model's eval batches, and the exported signatures serving ``softmax(logits / T)``."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from preprocessing import contract, image_ops
from preprocessing.labels import GRADES
from tests import signatures
from trainer import calibration, export, task


def _softmax(z):
  z = np.asarray(z, np.float64)
  e = np.exp(z - z.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def _nll_by_hand(logits, labels, t):
  return -np.mean(np.log(_softmax(np.asarray(logits) / t)[np.arange(len(labels)), labels]))


def _golden_min(f, low, high, tol=1e-12):
  """Golden-section search of a unimodal ``f`` on [low, high]."""
  ratio = (math.sqrt(5) - 1) / 2
  a, b = low, high
  while b - a > tol:
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    if f(c) < f(d):
      b = d
    else:
      a = c
  return (a + b) / 2


def test_the_temperature_has_the_closed_form_of_a_one_score_problem():
  # Every row: score z on grade 0, 0 on the other five; a share p of rows is grade 0, the
  # rest spread evenly. The NLL is least where softmax's grade-0 probability is p:
  # exp(z/T) / (exp(z/T) + 5) = p, so T = z / ln(5p / (1 - p)).
  z, p, n = 6.0, 0.7, 100
  logits = np.tile([z, 0, 0, 0, 0, 0], (n, 1))
  labels = np.array([0] * 70 + [1, 2, 3, 4, 5] * 6)
  expected = z / math.log(5 * p / (1 - p))  # 2.3979...
  assert calibration.fit_temperature(logits, labels) == pytest.approx(expected, abs=1e-6)


def test_the_temperature_equals_an_independent_minimisation():
  rng = np.random.default_rng(7)
  labels = rng.integers(0, 6, 400)
  # Overconfident scores: right 70% of the time, with a margin far above what that earns.
  logits = rng.normal(0, 1, (400, 6))
  right = rng.random(400) < 0.7
  top = np.where(right, labels, (labels + rng.integers(1, 6, 400)) % 6)
  logits[np.arange(400), top] += 6.0
  # Independent: a dense grid over beta = 1 / T (where the NLL is convex), refined by
  # golden-section between the grid point's neighbours.
  betas = np.linspace(0.05, 20, 4000)
  best = int(np.argmin([_nll_by_hand(logits, labels, 1 / b) for b in betas]))
  beta = _golden_min(lambda b: _nll_by_hand(logits, labels, 1 / b),
                     betas[max(best - 1, 0)], betas[best + 1])
  fitted = calibration.fit_temperature(logits, labels)
  assert fitted == pytest.approx(1 / beta, abs=1e-4)
  assert fitted > 1.5  # overconfident scores are softened
  record = calibration.calibrate(logits, labels)
  assert record['temperature'] == fitted and record['eval_frames'] == 400
  assert record['eval_nll_before'] == pytest.approx(_nll_by_hand(logits, labels, 1), abs=1e-9)
  assert record['eval_nll_after'] == pytest.approx(_nll_by_hand(logits, labels, fitted),
                                                   abs=1e-9)
  assert record['eval_nll_after'] < record['eval_nll_before']
  assert record['fitted'] and record['reason'] is None and not record['at_bound']


def test_a_temperature_of_one_leaves_the_probabilities_unchanged():
  logits = np.random.default_rng(1).normal(0, 3, (50, 6))
  labels = np.arange(50) % 6
  # nll at T = 1 is the cross-entropy of the plain softmax.
  assert calibration.nll(logits, labels, 1.0) == pytest.approx(
      _nll_by_hand(logits, labels, 1.0), abs=1e-12)
  # The serving module at T = 1 gives the network's own softmax.
  classifier = _tiny_classifier()
  encoded = tf.constant(_encoded())
  module = export.ServingModule(classifier, 32, 'paper', 1.0)  # kept: tf.function holds it weakly
  served = module.serve_images(encoded)
  own = classifier(image_ops.preprocess_bytes(encoded, 32, 'paper')).numpy()
  np.testing.assert_allclose(served[contract.OUTPUT_PROBABILITIES].numpy(), own, atol=1e-6,
                             rtol=0)


def test_an_eval_split_graded_all_right_matches_laplaces_rule_by_hand():
  # Every row: score z on grade 0, the right one, and 0 on the other five. Its top
  # probability exp(z/T) / (exp(z/T) + 5) equals Laplace's (n + 1) / (n + 2) where
  # exp(z/T) = 5 (n + 1), so T = z / ln(5 (n + 1)) = 3 / ln 55 = 0.74862...
  z, n = 3.0, 10
  logits = np.tile([z, 0, 0, 0, 0, 0], (n, 1))
  labels = np.zeros(n, np.int64)
  record = calibration.calibrate(logits, labels)
  assert record['temperature'] == pytest.approx(z / math.log(5 * (n + 1)), abs=1e-9)
  assert record['fitted'] and record['objective'] == 'laplace' and record['reason'] is None
  assert record['laplace_target'] == 11 / 12
  assert _softmax(logits / record['temperature'])[:, 0].mean() == pytest.approx(11 / 12,
                                                                                abs=1e-9)
  # Not the lower bound the NLL would run to, which makes every probability about 1.
  assert record['temperature'] > 10 * calibration.BOUNDS[0]
  assert record['eval_nll_after'] == pytest.approx(_nll_by_hand(logits, labels,
                                                                record['temperature']))
  with pytest.raises(ValueError, match='every eval frame is graded right'):
    calibration.fit_temperature(logits, labels)
  empty = calibration.calibrate(np.zeros((0, 6)), np.zeros(0, np.int64))
  assert (empty['temperature'], empty['fitted'], empty['reason']) == (1.0, False,
                                                                      'no eval frames')
  assert empty['eval_nll_before'] is None and empty['eval_frames'] == 0


def test_laplaces_rule_on_varied_rows_equals_a_bisection_of_the_tests_own():
  rng = np.random.default_rng(3)
  labels = rng.integers(0, 6, 60)
  logits = rng.uniform(0, 1, (60, 6))
  logits[np.arange(60), labels] += rng.uniform(1.5, 9, 60)  # all right, by varied margins
  target = 61 / 62

  def mean_top(t):
    return _softmax(logits / t).max(axis=1).mean()
  low, high = 0.05, 20.0  # mean_top falls as t grows: bisect on it
  for _ in range(200):
    mid = (low + high) / 2
    low, high = (mid, high) if mean_top(mid) > target else (low, mid)
  record = calibration.calibrate(logits, labels)
  assert record['objective'] == 'laplace'
  assert record['temperature'] == pytest.approx((low + high) / 2, abs=1e-6)
  # The objective is what makes this T: a T 1% off misses the target.
  for off in (0.99, 1.01):
    assert abs(mean_top(record['temperature'] * off) - target) > 1e-4


def test_laplaces_rule_stops_at_a_bound_it_cannot_pass():
  # Right by a hair: even T = 0.05 leaves the top probability near 1/6, under 11/12.
  logits = np.tile([1e-3, 0, 0, 0, 0, 0], (10, 1))
  record = calibration.calibrate(logits, np.zeros(10, np.int64))
  assert record['temperature'] == calibration.BOUNDS[0] and record['objective'] == 'laplace'
  # Sure of everything: even T = 20 leaves the top probability above 11/12: softened most.
  sure = calibration.calibrate(np.tile([500.0, 0, 0, 0, 0, 0], (10, 1)),
                               np.zeros(10, np.int64))
  assert sure['temperature'] == calibration.BOUNDS[1] and sure['at_bound']


def test_a_minimum_under_the_lower_bound_keeps_t_at_one():
  # Nine frames right by a hair, one wrong by a hair: the NLL keeps falling as T shrinks
  # far below 0.05 (the right frames' margins sharpen faster than the wrong one costs).
  logits = np.tile([1e-3, 0, 0, 0, 0, 0], (10, 1))
  labels = np.array([0] * 9 + [1])
  assert calibration.fit_temperature(logits, labels) == pytest.approx(calibration.BOUNDS[0],
                                                                      rel=1e-3)
  record = calibration.calibrate(logits, labels)
  assert record['temperature'] == 1.0 and record['fitted'] is False
  assert 'under T = 0.05' in record['reason']


def _tiny_classifier():
  """A random 32 px model with the head's layer names (as tests/tiny_model.py)."""
  keras.utils.set_random_seed(0)
  inputs = keras.Input((32, 32, 3))
  hidden = keras.layers.Conv2D(4, 5, strides=4, activation='relu')(inputs)
  pooled = keras.layers.GlobalAveragePooling2D(name='head_pool')(hidden)
  outputs = keras.layers.Dense(6, activation='softmax', name='probabilities')(pooled)
  classifier = keras.Model(inputs, outputs)
  # Sharper scores than the initialisation gives, so that T visibly changes them.
  kernel, bias = classifier.get_layer('probabilities').get_weights()
  classifier.get_layer('probabilities').set_weights([kernel * 8, bias])
  return classifier


def _images(n=5, seed=3):
  rng = np.random.default_rng(seed)
  return np.stack([tf.image.resize(rng.uniform(0, 255, (4, 4, 3)), (32, 32)).numpy()
                   for _ in range(n)]).astype(np.float32) / 255


def _encoded():
  """PNGs of ``_images``: lossless, so decoding gives the same pixels back."""
  return [tf.io.encode_png(c).numpy() for c in (_images() * 255).round().astype(np.uint8)]


def test_the_trainer_fits_on_the_eval_passes_logits():
  classifier = _tiny_classifier()
  images = _images(40)
  labels = np.arange(40) % 6
  frames = tf.data.Dataset.from_tensor_slices(
      (images, labels, np.array([b'v%d' % (i % 4) for i in range(40)]))).batch(16)
  (outputs,) = task.frame_outputs(classifier, frames)
  np.testing.assert_array_equal(outputs['labels'], labels)
  assert outputs['video_ids'].tolist() == [b'v%d' % (i % 4) for i in range(40)]
  assert outputs['features'].shape == (40, 4)
  record = task.calibrate(outputs['logits'], outputs['labels'])
  # Independent: the log of the model's own probabilities (logits up to a constant per
  # row, which the softmax ignores).
  log_p = np.log(classifier.predict(images, verbose=0).astype(np.float64))
  np.testing.assert_allclose(calibration.probabilities(outputs['logits'], 1.0),
                             np.exp(log_p), atol=1e-6, rtol=0)
  assert record['eval_frames'] == 40 and record['fitted']
  assert record['temperature'] == pytest.approx(calibration.fit_temperature(log_p, labels),
                                                abs=1e-4)
  assert record['eval_nll_before'] == pytest.approx(_nll_by_hand(log_p, labels, 1), abs=1e-5)


@pytest.mark.slow
def test_every_signature_serves_softmax_of_the_logits_over_t(tmp_path):
  temperature = 2.5
  classifier = _tiny_classifier()
  export.export(classifier, str(tmp_path), 32, 'paper', {}, temperature=temperature)
  loaded = tf.saved_model.load(str(tmp_path))
  assert loaded.temperature.numpy() == np.float32(temperature)
  encoded = _encoded()
  examples = [tf.train.Example(features=tf.train.Features(feature={
      contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[j]))})
  ).SerializeToString() for j in encoded]
  own = classifier(image_ops.preprocess_bytes(tf.constant(encoded), 32, 'paper')).numpy()
  expected = _softmax(np.log(own.astype(np.float64)) / temperature)
  outputs = signatures.call_all(loaded, examples, encoded)
  for name, out in outputs.items():
    keys = {contract.OUTPUT_PROBABILITIES, contract.OUTPUT_LOGITS, contract.OUTPUT_GRADE,
            contract.OUTPUT_OOD_SCORE}
    extra = {contract.SERVING_EXPLAIN: {contract.OUTPUT_HEATMAPS},
             contract.SERVING_DEFAULT: {contract.OUTPUT_REFERRAL_RULES}}.get(name, set())
    assert set(out) == keys | extra, name
    probabilities = out[contract.OUTPUT_PROBABILITIES].numpy()
    logits = out[contract.OUTPUT_LOGITS].numpy()
    # Exported without a guard (trainer.ood): no score, not a made-up one.
    ood_score = out[contract.OUTPUT_OOD_SCORE].numpy()
    assert ood_score.shape == (len(encoded),) and np.isnan(ood_score).all(), name
    np.testing.assert_allclose(probabilities, _softmax(logits / temperature), atol=1e-6,
                               rtol=0, err_msg=name)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6, rtol=0, err_msg=name)
    np.testing.assert_allclose(_softmax(logits), own, atol=1e-6, rtol=0, err_msg=name)
    assert [g.decode() for g in out[contract.OUTPUT_GRADE].numpy()] == [
        GRADES[i] for i in own.argmax(axis=1)], name
  # T = 2.5 changed the probabilities: the check above is not T = 1's.
  assert np.abs(expected - own).max() > 0.05
