"""The referral rule's measures (``components/evaluation/referral_metrics.py``) on
subjects worked by hand."""
import numpy as np
import pytest

from components.evaluation import referral_metrics
from preprocessing import referral


def _row(grade, top):
  row = np.full(6, (1 - top) / 5)
  row[grade] = top
  return row


# Five subjects: true grades, and pooled rows with the predicted grade and confidence.
LABELS = [0, 1, 2, 3, 4]
POOLED = np.array([_row(0, 0.9), _row(1, 0.8), _row(4, 0.7), _row(4, 0.6), _row(0, 0.5)])
# Right, right, off by two, off by one, off by four.


def test_coverage_and_accuracy_among_the_accepted_by_hand():
  # Refer the two least confident: accepted 0, 1, 2 -> exact 2/3, within one 2/3.
  found = referral_metrics.summarise(LABELS, POOLED, [False, False, False, True, True],
                                     num_resamples=500)
  assert found['coverage']['value'] == pytest.approx(0.6)
  assert found['accepted_exact_accuracy']['value'] == pytest.approx(2 / 3)
  assert found['accepted_within_one_accuracy']['value'] == pytest.approx(2 / 3)
  assert (found['accepted'], found['referred']) == (3, 2)
  for name in referral_metrics.MEASURES:
    assert found[name]['ci_low'] <= found[name]['value'] <= found[name]['ci_high'], name
  # Nobody referred: the accuracies of all five, exact 2/5 and within one 3/5.
  everyone = referral_metrics.summarise(LABELS, POOLED, [False] * 5, num_resamples=100)
  assert everyone['coverage']['value'] == 1.0
  assert everyone['accepted_exact_accuracy']['value'] == pytest.approx(0.4)
  assert everyone['accepted_within_one_accuracy']['value'] == pytest.approx(0.6)
  # Everyone referred: no accuracy to speak of.
  nobody = referral_metrics.summarise(LABELS, POOLED, [True] * 5, num_resamples=100)
  assert nobody['coverage']['value'] == 0.0
  assert np.isnan(nobody['accepted_exact_accuracy']['value'])


def test_the_interval_is_a_bootstrap_over_subjects():
  referred = np.array([False, False, False, True, True])
  found = referral_metrics.summarise(LABELS, POOLED, referred, num_resamples=300, seed=3)
  idx = np.random.default_rng(3).integers(0, 5, (300, 5))
  coverage = (~referred[idx]).mean(axis=1)
  assert (found['coverage']['ci_low'], found['coverage']['ci_high']) == tuple(
      np.percentile(coverage, [2.5, 97.5]))


def test_the_risk_coverage_curve_by_hand():
  coverage, exact, within_one = referral_metrics.risk_coverage(LABELS, POOLED)
  np.testing.assert_allclose(coverage, [0.2, 0.4, 0.6, 0.8, 1.0])
  np.testing.assert_allclose(exact, [0, 0, 1 / 3, 2 / 4, 3 / 5])
  np.testing.assert_allclose(within_one, [0, 0, 1 / 3, 1 / 4, 2 / 5])


def test_subjects_are_referred_from_their_pooled_frames():
  # Subject a: two frames, confident and in distribution; b: two frames, one over the
  # threshold (share 0.5, not over 0.5); c: one frame, a face in each of its frames (as
  # a still: the test split keeps only the frames with a face, so it cannot tell).
  ids = ['a', 'a', 'b', 'b', 'c']
  labels = [0, 0, 1, 1, 2]
  probs = np.array([_row(0, 0.9), _row(0, 0.7), _row(1, 0.6), _row(1, 0.6), _row(2, 0.9)])
  rules = referral.Rules(ood_threshold=5.0, max_ood_share=0.5, min_confidence=0.6,
                         min_faces=2)
  got_labels, pooled, referred = referral_metrics.subject_referrals(
      ids, labels, probs, [1.0, 2.0, 9.0, 1.0, 1.0], rules)
  assert got_labels.tolist() == [0, 1, 2]
  np.testing.assert_allclose(pooled.max(axis=1), [0.8, 0.6, 0.9])
  assert referred.tolist() == [False, False, False]
  # b's confidence 0.6 meets min_confidence 0.6; just above it refers b as well, and a
  # stricter share refers it for its out-of-distribution frame.
  above = referral.Rules(ood_threshold=5.0, min_confidence=0.6 + 1e-9, min_faces=2)
  assert referral_metrics.subject_referrals(ids, labels, probs, None, above)[2].tolist() == [
      False, True, False]
  share = referral.Rules(ood_threshold=5.0, max_ood_share=0.49, min_faces=2)
  assert referral_metrics.subject_referrals(
      ids, labels, probs, [1.0, 2.0, 9.0, 1.0, 1.0], share)[2].tolist() == [False, True, False]
