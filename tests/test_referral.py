"""The referral rule (``preprocessing.referral``) on cases worked by hand: each threshold
passes at its value and refers just past it."""
import numpy as np
import pytest

from preprocessing import referral

SURE = [0.05, 0.8, 0.05, 0.05, 0.03, 0.02]  # confidence 0.8


def test_a_confident_in_distribution_video_is_not_referred():
  found = referral.decide(SURE, [1.0, 2.0, 3.0, 9.0], 4, 10,
                          referral.Rules(ood_threshold=5.0, min_confidence=0.8))
  assert found == referral.Referral(0.8, 2.5, 0.25, False, [])


def test_the_out_of_distribution_share_refers_only_past_its_limit():
  rules = referral.Rules(ood_threshold=5.0, max_ood_share=0.5)
  at_limit = referral.decide(SURE, [1.0, 2.0, 6.0, 7.0], 4, 4, rules)  # 2 of 4 = 0.5
  assert not at_limit.refer and at_limit.ood_share == 0.5
  past = referral.decide(SURE, [1.0, 6.0, 6.0, 7.0], 4, 4, rules)      # 3 of 4
  assert past.refer_reasons == [referral.OUT_OF_DISTRIBUTION] and past.ood_score == 6.0
  # A score equal to the threshold is not over it.
  assert not referral.decide(SURE, [5.0] * 4, 4, 4, rules).refer


def test_low_confidence_refers_just_under_the_threshold():
  assert not referral.decide(SURE, None, 5, 5, referral.Rules(min_confidence=0.8)).refer
  under = referral.decide(SURE, None, 5, 5, referral.Rules(min_confidence=0.8 + 1e-9))
  assert under.refer_reasons == [referral.LOW_CONFIDENCE] and under.ood_score is None


def test_too_few_faces_counts_frames_with_a_face_and_lets_a_still_through():
  rules = referral.Rules(min_faces=3)
  assert not referral.decide(SURE, None, 3, 20, rules).refer
  assert referral.decide(SURE, None, 2, 20, rules).refer_reasons == [referral.TOO_FEW_FACES]
  assert not referral.decide(SURE, None, 1, 1, rules).refer       # a still: its one frame
  assert referral.decide(SURE, None, 1, 2, rules).refer           # 2 frames, 1 face


def test_every_reason_is_listed_in_order():
  found = referral.decide(SURE, [9.0, 9.0], 2, 10,
                          referral.Rules(ood_threshold=1.0, min_confidence=0.9))
  assert found.refer_reasons == list(referral.REASONS)


def test_a_model_without_the_guard_is_never_referred_as_out_of_distribution():
  rules = referral.Rules.from_model({'referral': {'min_faces': 2, 'unknown_later_key': 1}})
  assert rules == referral.Rules(min_faces=2)
  assert referral.Rules.from_model({}) == referral.Rules()
  assert not referral.decide(SURE, [1e9], 2, 2, rules).refer


def test_the_confidence_threshold_is_the_eval_quantile():
  # 21 values 0.50, 0.52, ... 0.90: the 5% quantile is at position 1.0, 0.52.
  values = np.linspace(0.5, 0.9, 21)
  assert referral.choose_min_confidence(values) == pytest.approx(0.52, abs=1e-12)
  assert referral.choose_min_confidence(values, 0.0) == 0.5
  assert referral.choose_min_confidence([]) == 0.0


@pytest.mark.parametrize('kwargs', [{'max_ood_share': 1.0}, {'min_confidence': 1.5},
                                    {'min_faces': 0}])
def test_impossible_rules_are_refused(kwargs):
  with pytest.raises(ValueError):
    referral.Rules(**kwargs)


def test_the_rules_round_trip_through_the_row_serving_default_repeats():
  rules = referral.Rules(ood_threshold=12.5, max_ood_share=0.25, min_confidence=0.4,
                         min_faces=5)
  assert referral.Rules.from_row(rules.as_row()) == rules
  assert referral.Rules.from_row(referral.Rules().as_row()) == referral.Rules()  # NaN: none
