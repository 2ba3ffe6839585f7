"""Clinical measures against numbers worked out by hand, and the bootstrap's contract."""
import json
import math

import numpy as np
import pytest

from components.evaluation import clinical_metrics as cm_lib
from preprocessing.labels import NUM_GRADES

# Eight subjects, one per row: (true grade, predicted grade).
HAND_PAIRS = [(0, 0), (0, 1), (1, 1), (2, 2), (2, 4), (3, 3), (4, 3), (5, 5)]
HAND_LABELS = [t for t, _ in HAND_PAIRS]
HAND_PREDICTIONS = [p for _, p in HAND_PAIRS]
# Rows true grade, columns predicted. Row totals [2, 1, 2, 1, 1, 1],
# column totals [1, 2, 1, 2, 1, 1].
HAND_CM = np.array([
    [1, 1, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 0],
    [0, 0, 1, 0, 1, 0],
    [0, 0, 0, 1, 0, 0],
    [0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 1],
])


def one_hot_probabilities(predictions, k=NUM_GRADES):
  """Probabilities whose argmax is ``predictions`` (0.5 on it, the rest spread)."""
  probs = np.full((len(predictions), k), 0.5 / (k - 1))
  probs[np.arange(len(predictions)), predictions] = 0.5
  return probs


def test_aggregate_takes_the_mean_of_frame_probabilities():
  frames = np.array([
      [0.90, 0.10, 0.00, 0, 0, 0],
      [0.30, 0.40, 0.30, 0, 0, 0],
      [0.35, 0.45, 0.20, 0, 0, 0],
  ])
  labels, probs, ids = cm_lib.aggregate(['A', 'A', 'A'], [1, 1, 1], frames)
  # Mean: grade 0 (0.9 + 0.3 + 0.35) / 3 = 0.51667, grade 1 (0.1 + 0.4 + 0.45) / 3
  # = 0.31667, grade 2 (0 + 0.3 + 0.2) / 3 = 0.16667. The argmax is grade 0, though
  # a majority vote of the frames' argmaxes (0, 1, 1) would say grade 1.
  np.testing.assert_allclose(probs, [[1.55 / 3, 0.95 / 3, 0.5 / 3, 0, 0, 0]])
  assert np.argmax(probs[0]) == 0
  assert labels.tolist() == [1]
  assert ids.tolist() == ['A']


def test_aggregate_groups_by_id_then_grade_in_sorted_order():
  ids = ['b', 'a', 'c', 'a', 'c', 'b']
  labels = [4, 2, 3, 2, 2, 4]
  probs = np.eye(NUM_GRADES)[[4, 2, 3, 1, 2, 5]]
  out_labels, out_probs, out_ids = cm_lib.aggregate(ids, labels, probs)
  # 'c' has true grades 2 and 3 (two assessments): one row per grade.
  assert out_ids.tolist() == ['a', 'b', 'c', 'c']
  assert out_labels.tolist() == [2, 4, 2, 3]
  # a: mean of one-hots at 2 and 1; b: of 4 and 5; c/2 and c/3 one frame each.
  expected = np.zeros((4, NUM_GRADES))
  expected[0, [1, 2]] = 0.5
  expected[1, [4, 5]] = 0.5
  expected[2, 2] = 1.0
  expected[3, 3] = 1.0
  np.testing.assert_allclose(out_probs, expected)


def test_aggregate_accepts_bytes_ids_and_no_rows():
  labels, probs, ids = cm_lib.aggregate([b'y', b'x', b'y'], [0, 5, 0],
                                        np.eye(NUM_GRADES)[[0, 5, 2]])
  assert ids.tolist() == [b'x', b'y']
  assert labels.tolist() == [5, 0]
  np.testing.assert_allclose(probs[1], [0.5, 0, 0.5, 0, 0, 0])
  labels, probs, ids = cm_lib.aggregate([], [], [])
  assert (labels.shape, probs.shape, ids.shape) == ((0,), (0, NUM_GRADES), (0,))


def test_confusion_matrix_rows_are_true_grades():
  np.testing.assert_array_equal(
      cm_lib.confusion_matrix(HAND_LABELS, HAND_PREDICTIONS), HAND_CM)
  with pytest.raises(ValueError, match='predictions must lie in 0..5'):
    cm_lib.confusion_matrix([0], [6])


def direct_quadratic_kappa(cm):
  """Cohen's kappa straight from its definition, one cell at a time."""
  k, n = len(cm), cm.sum()
  rows, cols = cm.sum(1), cm.sum(0)
  observed = expected = 0.0
  for i in range(k):
    for j in range(k):
      weight = (i - j) ** 2 / (k - 1) ** 2
      observed += weight * cm[i, j] / n
      expected += weight * rows[i] * cols[j] / n ** 2
  return 1.0 - observed / expected


def test_measures_of_the_hand_set():
  m = cm_lib.measures_from_confusion(HAND_CM)
  # Correct: subjects 1, 3, 4, 6, 8 -> 5 / 8.
  assert m['exact_accuracy'] == 5 / 8
  # Errors |0-1| = 1, |2-4| = 2, |4-3| = 1: only the 2-grade miss is outside one.
  assert m['within_one_accuracy'] == 7 / 8
  assert m['mae'] == (1 + 2 + 1) / 8
  # Recall = diagonal / row totals: 1/2, 1/1, 1/2, 1/1, 0/1, 1/1.
  np.testing.assert_allclose(m['recall'], [0.5, 1, 0.5, 1, 0, 1])
  # Precision = diagonal / column totals: 1/1, 1/2, 1/1, 1/2, 0/1, 1/1.
  np.testing.assert_allclose(m['precision'], [1, 0.5, 1, 0.5, 0, 1])
  # F1 = 2 TP / (row + column): 2/3, 2/3, 2/3, 2/3, 0/2, 2/2.
  np.testing.assert_allclose(m['f1'], [2 / 3, 2 / 3, 2 / 3, 2 / 3, 0, 1])
  assert m['balanced_accuracy'] == pytest.approx((0.5 + 1 + 0.5 + 1 + 0 + 1) / 6)
  # (4 * 2/3 + 0 + 1) / 6 = 11/18.
  assert m['macro_f1'] == pytest.approx(11 / 18)
  assert m['count'] == 8
  assert m['exact_accuracy'].shape == () and m['recall'].shape == (NUM_GRADES,)


def test_quadratic_kappa_of_the_hand_set():
  kappa = cm_lib.measures_from_confusion(HAND_CM)['quadratic_weighted_kappa']
  # Observed sum (i-j)^2 n_ij = 1 + 4 + 1 = 6 over n = 8. Expected sum (i-j)^2 r_i c_j
  # = sum r_i i^2 * sum c + sum r * sum c_j j^2 - 2 sum r_i i * sum c_j j
  # = 59 * 8 + 8 * 65 - 2 * 17 * 19 = 346 over n^2 = 64.
  # kappa = 1 - (6/8) / (346/64) = 1 - 48/346 = 149/173.
  assert kappa == pytest.approx(149 / 173, rel=1e-12)
  assert kappa == pytest.approx(direct_quadratic_kappa(HAND_CM), rel=1e-12)


def test_quadratic_kappa_matches_sklearn():
  metrics = pytest.importorskip('sklearn.metrics')
  rng = np.random.default_rng(3)
  labels = rng.integers(0, NUM_GRADES, 40)
  predictions = np.clip(labels + rng.integers(-2, 3, 40), 0, NUM_GRADES - 1)
  ours = cm_lib.measures_from_confusion(cm_lib.confusion_matrix(labels, predictions))
  for got, want in [
      (cm_lib.measures_from_confusion(HAND_CM)['quadratic_weighted_kappa'],
       metrics.cohen_kappa_score(HAND_LABELS, HAND_PREDICTIONS, weights='quadratic',
                                 labels=range(NUM_GRADES))),
      (ours['quadratic_weighted_kappa'],
       metrics.cohen_kappa_score(labels, predictions, weights='quadratic',
                                 labels=range(NUM_GRADES)))]:
    assert got == pytest.approx(want, rel=1e-12)


def test_absent_grades_are_nan_and_left_out_of_the_means():
  # Grade 2 is predicted once but never true; grade 3 is true once but never
  # predicted; grades 4 and 5 appear nowhere.
  m = cm_lib.measures_from_confusion(cm_lib.confusion_matrix([0, 0, 1, 1, 3],
                                                             [0, 1, 1, 1, 2]))
  nan = math.nan
  # Recall 1/2, 2/2, -, 0/1, -, -.
  np.testing.assert_allclose(m['recall'], [0.5, 1, nan, 0, nan, nan])
  # Precision 1/1, 2/3, 0/1, then nothing predicted as 3, 4 or 5.
  np.testing.assert_allclose(m['precision'], [1, 2 / 3, 0, nan, nan, nan])
  # F1 2*1/(2+1), 2*2/(2+3), -, 2*0/(1+0), -, -.
  np.testing.assert_allclose(m['f1'], [2 / 3, 4 / 5, nan, 0, nan, nan])
  # Means over the true grades 0, 1 and 3 only.
  assert m['balanced_accuracy'] == pytest.approx((0.5 + 1 + 0) / 3)
  assert m['macro_f1'] == pytest.approx((2 / 3 + 4 / 5 + 0) / 3)


def test_one_grade_everywhere_has_no_kappa_and_no_rows_have_no_measures():
  single = np.zeros((NUM_GRADES, NUM_GRADES), int)
  single[2, 2] = 4
  m = cm_lib.measures_from_confusion(single)
  # Expected disagreement is 0 when truth and prediction are both grade 2 only.
  assert math.isnan(m['quadratic_weighted_kappa'])
  assert m['exact_accuracy'] == 1.0
  empty = cm_lib.measures_from_confusion(np.zeros((NUM_GRADES, NUM_GRADES), int))
  for name in ('exact_accuracy', 'mae', 'quadratic_weighted_kappa', 'balanced_accuracy'):
    assert math.isnan(empty[name]), name
  assert empty['count'] == 0


def test_a_stack_of_matrices_equals_one_at_a_time():
  rng = np.random.default_rng(7)
  stack = np.stack([HAND_CM, np.zeros_like(HAND_CM), np.diag([0, 3, 0, 2, 0, 0]),
                    rng.integers(0, 5, (NUM_GRADES, NUM_GRADES))])
  stacked = cm_lib.measures_from_confusion(stack)
  for b, matrix in enumerate(stack):
    single = cm_lib.measures_from_confusion(matrix)
    for name, value in single.items():
      assert stacked[name][b].shape == value.shape, name
      np.testing.assert_allclose(stacked[name][b], value, rtol=1e-12, err_msg=name)
  assert stacked['exact_accuracy'].shape == (4,)
  assert stacked['recall'].shape == (4, NUM_GRADES)


def test_bootstrap_resamples_entities_with_replacement():
  labels, predictions = np.array(HAND_LABELS), np.array(HAND_PREDICTIONS)
  boots = cm_lib.bootstrap_confusions(labels, predictions, num_resamples=50, seed=11)
  assert boots.shape == (50, NUM_GRADES, NUM_GRADES)
  np.testing.assert_array_equal(boots.sum(axis=(1, 2)), np.full(50, 8))
  # Only cells filled in the original set can be filled in a resample.
  assert not boots[:, HAND_CM == 0].any()
  # Resample 3 by hand: the same draw of subject indices, counted one by one.
  picked = np.random.default_rng(11).integers(0, 8, size=(50, 8))[3]
  by_hand = np.zeros((NUM_GRADES, NUM_GRADES), int)
  for i in picked:
    by_hand[labels[i], predictions[i]] += 1
  np.testing.assert_array_equal(boots[3], by_hand)


def test_bootstrap_is_deterministic_for_a_seed():
  first = cm_lib.bootstrap_confusions(HAND_LABELS, HAND_PREDICTIONS, 100, seed=5)
  again = cm_lib.bootstrap_confusions(HAND_LABELS, HAND_PREDICTIONS, 100, seed=5)
  other = cm_lib.bootstrap_confusions(HAND_LABELS, HAND_PREDICTIONS, 100, seed=6)
  np.testing.assert_array_equal(first, again)
  assert (first != other).any()


def test_summary_of_the_hand_set():
  summary = cm_lib.summarise(HAND_LABELS, one_hot_probabilities(HAND_PREDICTIONS),
                             num_resamples=500, seed=1)
  json.dumps(summary)  # plain Python numbers only
  assert summary['count'] == 8
  assert summary['confusion_matrix'] == HAND_CM.tolist()
  assert summary['exact_accuracy']['value'] == 5 / 8
  assert summary['quadratic_weighted_kappa']['value'] == pytest.approx(149 / 173)
  assert summary['recall']['value'] == [0.5, 1, 0.5, 1, 0, 1]
  for name in ('exact_accuracy', 'within_one_accuracy', 'mae', 'balanced_accuracy'):
    entry = summary[name]
    assert entry['ci_low'] <= entry['value'] <= entry['ci_high'], name
    assert isinstance(entry['ci_low'], float)
  assert len(summary['f1']['ci_high']) == NUM_GRADES


def test_perfect_grader_has_an_interval_of_exactly_one():
  labels = np.repeat(np.arange(NUM_GRADES), 4)
  summary = cm_lib.summarise(labels, one_hot_probabilities(labels), num_resamples=300)
  assert summary['exact_accuracy'] == {'value': 1.0, 'ci_low': 1.0, 'ci_high': 1.0}
  assert summary['mae'] == {'value': 0.0, 'ci_low': 0.0, 'ci_high': 0.0}


def test_interval_of_a_typical_set_contains_the_point_value():
  rng = np.random.default_rng(2)
  labels = rng.integers(0, NUM_GRADES, 200)
  # About 70% right; a miss is one grade off, or two grades off one time in five.
  offset = rng.choice([-2, -1, 1, 2], 200, p=[0.1, 0.4, 0.4, 0.1])
  offset = np.where((labels + offset >= 0) & (labels + offset < NUM_GRADES), offset, -offset)
  predictions = np.where(rng.random(200) < 0.7, labels, labels + offset)
  summary = cm_lib.summarise(labels, one_hot_probabilities(predictions))
  for name in ('exact_accuracy', 'within_one_accuracy', 'mae', 'quadratic_weighted_kappa',
               'balanced_accuracy', 'macro_f1'):
    entry = summary[name]
    assert entry['ci_low'] < entry['value'] < entry['ci_high'], name
  # Accuracy 134/200 = 0.67: the normal approximation gives a 95% interval of
  # +-1.96 * sqrt(0.67 * 0.33 / 200) = +-0.065, a width of 0.130.
  assert summary['exact_accuracy']['value'] == 0.67
  width = summary['exact_accuracy']['ci_high'] - summary['exact_accuracy']['ci_low']
  assert width == pytest.approx(0.130, abs=0.015)


def test_six_subjects_give_a_wide_interval():
  labels = [0, 1, 2, 3, 4, 5]
  predictions = [0, 1, 2, 3, 5, 4]  # 4 of 6 right
  summary = cm_lib.summarise(labels, one_hot_probabilities(predictions))
  # Correct subjects in a resample ~ Binomial(6, 2/3): P(<= 1) = 1/729 + 12/729 =
  # 1.8% and P(<= 2) = 10%, so the 2.5th percentile is 2/6; P(6) = 64/729 = 8.8%,
  # so the 97.5th percentile is 6/6. The interval [1/3, 1] has width 2/3.
  assert summary['exact_accuracy']['value'] == 4 / 6
  assert summary['exact_accuracy']['ci_low'] == pytest.approx(1 / 3)
  assert summary['exact_accuracy']['ci_high'] == 1.0


def test_summary_of_no_entities_is_nan():
  summary = cm_lib.summarise([], [])
  assert summary['count'] == 0
  assert math.isnan(summary['exact_accuracy']['value'])
  assert math.isnan(summary['exact_accuracy']['ci_low'])
  assert all(math.isnan(v) for v in summary['recall']['ci_high'])
