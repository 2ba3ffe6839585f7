"""Calibration measures (ECE, Brier score, NLL) against numbers worked out by hand, the bin
edges, a slow plain-Python reference on random inputs, and the subject-level bootstrap."""
import math

import numpy as np
import pytest

from components.evaluation import clinical_metrics as cm_lib

TOL = 1e-12

# Six items of three grades, two in each of three confidence bins:
#   item  true  probabilities        top  predicted  bin  right
#   A     0     [0.90, 0.05, 0.05]   0.90  0          9    yes
#   B     1     [0.92, 0.08, 0.00]   0.92  0          9    no
#   C     1     [0.20, 0.70, 0.10]   0.70  1          7    yes
#   D     2     [0.25, 0.75, 0.00]   0.75  1          7    no
#   E     2     [0.30, 0.20, 0.50]   0.50  2          5    yes
#   F     0     [0.40, 0.55, 0.05]   0.55  1          5    no
HAND_LABELS = [0, 1, 1, 2, 2, 0]
HAND_PROBS = [[0.90, 0.05, 0.05], [0.92, 0.08, 0.00], [0.20, 0.70, 0.10],
              [0.25, 0.75, 0.00], [0.30, 0.20, 0.50], [0.40, 0.55, 0.05]]
# ECE: every bin holds 2 of the 6 items (weight 1/3) and is right on 1 of 2 (accuracy 0.5).
#   bin 9: mean confidence (0.90 + 0.92) / 2 = 0.910, |0.5 - 0.910| = 0.410
#   bin 7: mean confidence (0.70 + 0.75) / 2 = 0.725, |0.5 - 0.725| = 0.225
#   bin 5: mean confidence (0.50 + 0.55) / 2 = 0.525, |0.5 - 0.525| = 0.025
#   ECE = (0.410 + 0.225 + 0.025) / 3 = 0.660 / 3 = 0.22
HAND_ECE = 0.22
# Brier, the sum over grades of (p - onehot)^2 per item:
#   A (0.9 - 1)^2 + 0.05^2 + 0.05^2       = 0.01 + 0.0025 + 0.0025     = 0.015
#   B 0.92^2 + (0.08 - 1)^2 + 0^2         = 0.8464 + 0.8464            = 1.6928
#   C 0.2^2 + (0.7 - 1)^2 + 0.1^2         = 0.04 + 0.09 + 0.01         = 0.14
#   D 0.25^2 + 0.75^2 + (0 - 1)^2         = 0.0625 + 0.5625 + 1        = 1.625
#   E 0.3^2 + 0.2^2 + (0.5 - 1)^2         = 0.09 + 0.04 + 0.25         = 0.38
#   F (0.4 - 1)^2 + 0.55^2 + 0.05^2       = 0.36 + 0.3025 + 0.0025     = 0.665
#   mean = 4.5178 / 6 = 0.75296666...
HAND_BRIER = 4.5178 / 6
# NLL, -log p(true grade): A -ln 0.9 = 0.10536, B -ln 0.08 = 2.52573, C -ln 0.7 = 0.35667,
# D p = 0 clipped to 1e-12: -ln 1e-12 = 27.63102, E -ln 0.5 = 0.69315, F -ln 0.4 = 0.91629;
# mean = 32.22822 / 6 = 5.37137.
HAND_NLL = -(math.log(0.9) + math.log(0.08) + math.log(0.7) + math.log(1e-12)
             + math.log(0.5) + math.log(0.4)) / 6


def reference(labels, probs, bins=10, epsilon=1e-12):
  """The three measures by their textbook definitions, one item and one bin at a time:
  ECE as sum over bins of (n_b / n) |accuracy_b - mean confidence_b|."""
  members = [[] for _ in range(bins)]
  brier = nll = 0.0
  for label, row in zip(labels, probs):
    row = [float(p) for p in row]
    top = max(row)
    predicted = row.index(top)  # the first maximum: ties go to the lower grade
    for b in range(bins):
      if b / bins <= top < (b + 1) / bins or (b == bins - 1 and top == 1.0):
        members[b].append((top, predicted == label))
        break
    brier += sum((p - (1.0 if k == label else 0.0)) ** 2 for k, p in enumerate(row))
    nll -= math.log(max(row[label], epsilon))
  n = len(labels)
  ece = 0.0
  for items in members:
    if items:
      accuracy = sum(right for _, right in items) / len(items)
      confidence = sum(top for top, _ in items) / len(items)
      ece += len(items) / n * abs(accuracy - confidence)
  return {'ece': ece, 'brier': brier / n, 'nll': nll / n}


def test_hand_set():
  result = cm_lib.calibration(HAND_LABELS, HAND_PROBS)
  assert abs(result['ece'] - HAND_ECE) < TOL
  assert abs(result['brier'] - HAND_BRIER) < TOL
  assert abs(result['nll'] - HAND_NLL) < TOL


def test_hand_set_sums_are_a_reliability_diagram():
  sums = cm_lib.calibration_sums(HAND_LABELS, HAND_PROBS)
  expected_count = np.zeros(10)
  expected_count[[5, 7, 9]] = 2
  np.testing.assert_array_equal(sums.count, expected_count)
  np.testing.assert_array_equal(sums.correct, expected_count / 2)
  np.testing.assert_allclose(sums.confidence[[5, 7, 9]], [1.05, 1.45, 1.82], rtol=0,
                             atol=TOL)


def test_bin_edges():
  # Left-closed bins of width 0.1; 1.0 belongs to the last bin, 0.0 to the first.
  got = cm_lib.confidence_bins([0.0, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99999, 1.0])
  assert got.tolist() == [0, 0, 1, 3, 5, 7, 9, 9, 9]


def test_a_confidence_of_one_counts_in_the_last_bin():
  # Two items, both sure of grade 0, one right: bin 9 holds both, accuracy 1/2,
  # confidence 1.0, ECE |0.5 - 1.0| = 0.5. Had 1.0 fallen outside the bins, ECE would
  # be NaN or 0. Brier: right 0, wrong 1 + 1 = 2, mean 1. NLL: right -ln 1 = 0, wrong
  # p(true) = 0 clipped: -ln 1e-12 = 27.631, mean 13.8155.
  result = cm_lib.calibration([0, 1], [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
  assert abs(result['ece'] - 0.5) < TOL
  assert abs(result['brier'] - 1.0) < TOL
  assert abs(result['nll'] - (-math.log(1e-12) / 2)) < TOL


def test_a_confidence_of_zero_counts_in_the_first_bin():
  # A row of zeros (no probability anywhere) has top 0.0 at grade 0 (the first maximum):
  # bin 0, right for true grade 0, so ECE |1 - 0| = 1; Brier (0 - 1)^2 = 1; NLL -ln 1e-12.
  sums = cm_lib.calibration_sums([0], [[0.0, 0.0, 0.0]])
  assert sums.count[0] == 1 and sums.count.sum() == 1
  result = cm_lib.calibration_from_sums(sums)
  assert abs(result['ece'] - 1.0) < TOL and abs(result['brier'] - 1.0) < TOL
  assert abs(result['nll'] + math.log(1e-12)) < TOL


def test_a_perfect_sure_grader_scores_zero():
  result = cm_lib.calibration([0, 2, 1], np.eye(3)[[0, 2, 1]])
  assert result == {'ece': 0.0, 'brier': 0.0, 'nll': 0.0}


def random_set(seed, n, k):
  """Probabilities from sharp to flat Dirichlets, with some exact one-hot rows."""
  rng = np.random.default_rng(seed)
  probs = rng.dirichlet(np.full(k, rng.choice([0.1, 0.5, 2.0])), size=n)
  sure = rng.random(n) < 0.1
  probs[sure] = np.eye(k)[rng.integers(0, k, sure.sum())]
  return rng.integers(0, k, n), probs


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('n,k', [(1, 3), (7, 6), (60, 2), (500, 6)])
def test_agrees_with_the_slow_reference(seed, n, k):
  labels, probs = random_set(seed, n, k)
  got, want = cm_lib.calibration(labels, probs), reference(labels, probs)
  for name in cm_lib.CALIBRATION_MEASURES:
    assert abs(got[name] - want[name]) < TOL, name


def test_merged_sums_equal_the_sums_of_the_whole():
  # The TFMA frame level adds one frame's sums at a time and merges across workers.
  labels, probs = random_set(3, 40, 6)
  parts = [cm_lib.calibration_sums(labels[i:i + 1], probs[i:i + 1]) for i in range(40)]
  merged = parts[0]
  for part in parts[1:]:
    merged = merged.merged(part)
  whole = cm_lib.calibration_from_sums(cm_lib.calibration_sums(labels, probs))
  for name, value in cm_lib.calibration_from_sums(merged).items():
    assert abs(value - whole[name]) < TOL, name


def test_video_and_subject_levels_score_the_mean_of_frame_probabilities():
  # Subject a (grade 0): frames [0.9, 0.1, 0] and [0.3, 0.7, 0] pool to [0.6, 0.4, 0]:
  # right at 0.6. Subject b (grade 2): [0.2, 0.2, 0.6] alone: right at 0.6. Bin 6 holds
  # both, accuracy 1, confidence 0.6: ECE 0.4. Brier (0.16 + 0.16 + 0) and
  # (0.04 + 0.04 + 0.16): (0.32 + 0.24) / 2 = 0.28. NLL -(ln 0.6 + ln 0.6) / 2 = 0.5108.
  labels, probs, _ = cm_lib.aggregate(['a', 'a', 'b'], [0, 0, 2],
                                      [[0.9, 0.1, 0.0], [0.3, 0.7, 0.0], [0.2, 0.2, 0.6]])
  result = cm_lib.calibration(labels, probs)
  assert abs(result['ece'] - 0.4) < TOL
  assert abs(result['brier'] - 0.28) < TOL
  assert abs(result['nll'] + math.log(0.6)) < TOL


def test_subject_intervals_come_from_the_same_resamples_as_the_others():
  labels, probs = random_set(7, 12, 6)
  summary = cm_lib.summarise(labels, probs, num_resamples=200, seed=4)
  indices = cm_lib.resample_indices(12, 200, seed=4)
  # The accuracy of resample 0 from these indices is the bootstrap's own draw...
  boots = cm_lib.bootstrap_confusions(labels, np.argmax(probs, axis=1), 200, seed=4)
  np.testing.assert_array_equal(boots[0].trace(),
                                (np.argmax(probs[indices[0]], 1) == labels[indices[0]]).sum())
  # ...and so are the calibration intervals: the percentiles of the slow reference
  # over exactly those resamples.
  for name in cm_lib.CALIBRATION_MEASURES:
    values = [reference(labels[rows], probs[rows])[name] for rows in indices]
    low, high = np.percentile(values, [2.5, 97.5])
    entry = summary[name]
    assert abs(entry['value'] - reference(labels, probs)[name]) < TOL, name
    assert abs(entry['ci_low'] - low) < 1e-10 and abs(entry['ci_high'] - high) < 1e-10, name
    assert entry['ci_low'] <= entry['value'] <= entry['ci_high'], name


def test_no_items_is_nan():
  result = cm_lib.calibration([], [])
  assert all(math.isnan(result[name]) for name in cm_lib.CALIBRATION_MEASURES)
  summary = cm_lib.summarise([], [])
  assert math.isnan(summary['ece']['value']) and math.isnan(summary['nll']['ci_high'])


# The hand set's items as three subjects' frames: s1 holds A and B, s2 C and D, s3 E and F.
HAND_SUBJECTS = ['s1', 's1', 's2', 's2', 's3', 's3']


def test_entity_sums_are_each_subjects_frames_and_add_up_to_all():
  per_subject = cm_lib.entity_calibration_sums(HAND_SUBJECTS, HAND_LABELS, HAND_PROBS)
  # s1: A (0.90, right) and B (0.92, wrong), both in bin 9; s3: E (0.50, right) and
  # F (0.55, wrong) in bin 5.
  assert per_subject.count[0, 9] == 2 and per_subject.count[0].sum() == 2
  assert per_subject.correct[0, 9] == 1
  assert abs(per_subject.confidence[0, 9] - 1.82) < TOL
  assert abs(per_subject.brier[0] - (0.015 + 1.6928)) < TOL
  assert per_subject.count[2, 5] == 2 and per_subject.correct[2, 5] == 1
  whole = cm_lib.calibration_sums(HAND_LABELS, HAND_PROBS)
  for total, field in zip(whole, per_subject):
    np.testing.assert_allclose(field.sum(0), total, rtol=0, atol=TOL)


def test_a_resample_of_subjects_by_hand():
  # Draw s1, s1, s3: the frames A, B, A, B, E, F.
  #   bin 9: 4 frames, 2 right (A twice), confidence 0.90 + 0.92 + 0.90 + 0.92 = 3.64
  #   bin 5: 2 frames, 1 right (E), confidence 0.50 + 0.55 = 1.05
  #   ECE = (|2 - 3.64| + |1 - 1.05|) / 6 = (1.64 + 0.05) / 6 = 0.281666...
  #   Brier = (2 * 0.015 + 2 * 1.6928 + 0.38 + 0.665) / 6 = 4.4606 / 6
  #   NLL = (2 * (-ln 0.9 - ln 0.08) - ln 0.5 - ln 0.4) / 6
  per_subject = cm_lib.entity_calibration_sums(HAND_SUBJECTS, HAND_LABELS, HAND_PROBS)
  drawn = cm_lib.CalibrationSums(*(field[[0, 0, 2]].sum(0) for field in per_subject))
  result = cm_lib.calibration_from_sums(drawn)
  assert abs(result['ece'] - 1.69 / 6) < TOL
  assert abs(result['brier'] - 4.4606 / 6) < TOL
  nll = (2 * (-math.log(0.9) - math.log(0.08)) - math.log(0.5) - math.log(0.4)) / 6
  assert abs(result['nll'] - nll) < TOL
  # The same as scoring those six frames directly.
  frames = [0, 1, 0, 1, 4, 5]
  direct = cm_lib.calibration(np.array(HAND_LABELS)[frames], np.array(HAND_PROBS)[frames])
  for name in cm_lib.CALIBRATION_MEASURES:
    assert abs(result[name] - direct[name]) < TOL, name


def test_clustered_intervals_resample_subjects_with_all_their_frames():
  labels, probs = random_set(11, 90, 6)
  rng = np.random.default_rng(2)
  subjects = [f's{i:02d}' for i in rng.integers(0, 9, 90)]
  summary = cm_lib.clustered_calibration(subjects, labels, probs, num_resamples=300, seed=5)
  names = sorted(set(subjects))
  indices = cm_lib.resample_indices(len(names), 300, seed=5)
  per_subject = cm_lib.entity_calibration_sums(subjects, labels, probs)
  values = {name: [] for name in cm_lib.CALIBRATION_MEASURES}
  for rows in indices:
    # Every frame of every drawn subject, a subject drawn twice counted twice.
    frames = [i for r in rows for i, s in enumerate(subjects) if s == names[r]]
    direct = cm_lib.calibration_sums(labels[frames], probs[frames])
    for total, field in zip(direct, per_subject):
      np.testing.assert_allclose(field[rows].sum(0), total, rtol=0, atol=1e-9)
    for name, value in reference(labels[frames], probs[frames]).items():
      values[name].append(value)
  for name in cm_lib.CALIBRATION_MEASURES:
    low, high = np.percentile(values[name], [2.5, 97.5])
    entry = summary[name]
    assert abs(entry['value'] - reference(labels, probs)[name]) < TOL, name
    assert abs(entry['ci_low'] - low) < 1e-10 and abs(entry['ci_high'] - high) < 1e-10, name
    assert entry['ci_low'] < entry['value'] < entry['ci_high'], name


def test_clustered_calibration_of_no_frames_is_nan():
  summary = cm_lib.clustered_calibration([], [], [], num_resamples=10)
  assert all(math.isnan(summary[name][field]) for name in cm_lib.CALIBRATION_MEASURES
             for field in ('value', 'ci_low', 'ci_high'))


def test_the_uncalibrated_metric_reads_the_softmax_of_the_logits():
  from tensorflow_model_analysis.metrics import metric_types
  from components.evaluation import uncalibrated_metric
  logits = np.log(np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])) * 2  # T = 2 of tests/fixed_model
  element = metric_types.StandardMetricInputs(
      labels=np.array([0]), predictions={'probabilities': np.full(6, 1 / 6), 'logits': logits})
  np.testing.assert_allclose(uncalibrated_metric.own_probabilities(element, ''),
                             np.array([25, 1, 1, 1, 1, 1]) / 30, atol=1e-12)
  assert uncalibrated_metric.own_probabilities(metric_types.StandardMetricInputs(
      labels=np.array([0]), predictions={'probabilities': np.full(6, 1 / 6)}), '') is None
  beside = metric_types.StandardMetricInputs(
      labels=np.array([0]), predictions={'candidate': {'logits': logits}})
  assert uncalibrated_metric.own_probabilities(beside, 'candidate')[0] == pytest.approx(5 / 6)
