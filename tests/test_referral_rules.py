"""The referral thresholds the Trainer sets (trainer/referral_rules.py): each eval video's
confidence worked by hand, the settings read from custom_config with the rule's defaults,
and a bad setting refused before training."""
import numpy as np
import pytest

from preprocessing import referral
from trainer import presets, referral_rules


def test_a_videos_confidence_is_the_top_of_its_frames_mean():
  probabilities = np.array([[0.6, 0.4, 0, 0, 0, 0],    # video b
                            [0.2, 0.8, 0, 0, 0, 0],    # video a
                            [0.0, 0.6, 0.4, 0, 0, 0],  # video a
                            [0.2, 0.2, 0.6, 0, 0, 0]])  # video b
  videos = np.array([b'b', b'a', b'a', b'b'], object)
  # a: mean (0.1, 0.7, 0.2): 0.7. b: mean (0.4, 0.3, 0.3): 0.4. Sorted by id.
  np.testing.assert_allclose(referral_rules.video_confidences(probabilities, videos),
                             [0.7, 0.4], atol=1e-12)
  assert referral_rules.video_confidences(np.zeros((0, 6)), np.zeros(0, object)).size == 0
  rules = referral_rules.rules(12.5, np.array([0.7, 0.4]), referral_rules.Settings(
      confidence_quantile=0.5))
  assert rules == referral.Rules(ood_threshold=12.5, min_confidence=0.55,
                                 max_ood_share=referral.DEFAULT_MAX_OOD_SHARE,
                                 min_faces=referral.DEFAULT_MIN_FACES)


def test_the_settings_come_from_custom_config_with_the_rules_defaults():
  assert referral_rules.Settings.from_config({}) == referral_rules.Settings(
      referral.DEFAULT_MAX_OOD_SHARE, referral.DEFAULT_MIN_FACES,
      referral.DEFAULT_CONFIDENCE_QUANTILE)
  given = referral_rules.Settings.from_config({
      presets.CONFIG_REFER_MAX_OOD_SHARE: '0.25', presets.CONFIG_REFER_MIN_FACES: 5,
      presets.CONFIG_REFER_CONFIDENCE_QUANTILE: 0.1, presets.CONFIG_PRESET: 'demo'})
  assert given == referral_rules.Settings(0.25, 5, 0.1)
  for key, value, message in (
      (presets.CONFIG_REFER_MAX_OOD_SHARE, 1.0, 'max_ood_share 1.0'),
      (presets.CONFIG_REFER_MIN_FACES, 0, 'min_faces 0'),
      (presets.CONFIG_REFER_CONFIDENCE_QUANTILE, 1.5, 'refer_confidence_quantile 1.5')):
    with pytest.raises(ValueError, match=message):
      referral_rules.Settings.from_config({key: value})
