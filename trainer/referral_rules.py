"""The referral thresholds the Trainer sets on the eval split (``preprocessing.referral``
applies them, in every route that grades).

``min_confidence`` is chosen on whole videos, because a file is what gets referred: each
eval video's frames' calibrated probabilities are pooled by their mean (the Evaluator's
aggregation rule, ``clinical_metrics.aggregate``, which the Trainer may not import), and
its confidence is the top pooled probability. The guard's threshold comes from
``trainer.ood``; the share of frames over it, the least faces per file and the quantile
are settings (``Settings``). Pure numpy.
"""
import dataclasses

import numpy as np

from preprocessing import referral
from trainer import presets


def video_confidences(probabilities: np.ndarray, video_ids: np.ndarray) -> np.ndarray:
  """[videos] the top of each video's mean probabilities, videos in sorted id order."""
  probabilities = np.asarray(probabilities, np.float64)
  if not len(probabilities):
    return np.zeros(0)
  ids, codes = np.unique(np.asarray(video_ids, object), return_inverse=True)
  sums = np.zeros((len(ids), probabilities.shape[1]))
  np.add.at(sums, codes, probabilities)
  means = sums / np.bincount(codes, minlength=len(ids))[:, None]
  return np.array([referral.confidence(row) for row in means])


@dataclasses.dataclass(frozen=True)
class Settings:
  """The rule's settings from the Trainer's ``custom_config`` (``presets.CONFIG_REFER_*``),
  ``preprocessing.referral``'s defaults where absent; checked when read, before training."""
  max_ood_share: float = referral.DEFAULT_MAX_OOD_SHARE
  min_faces: int = referral.DEFAULT_MIN_FACES
  confidence_quantile: float = referral.DEFAULT_CONFIDENCE_QUANTILE

  def __post_init__(self):
    referral.Rules(max_ood_share=self.max_ood_share, min_faces=self.min_faces)
    if not 0 <= self.confidence_quantile < 1:
      raise ValueError(f'{presets.CONFIG_REFER_CONFIDENCE_QUANTILE} '
                       f'{self.confidence_quantile}: give a share in [0, 1)')

  @classmethod
  def from_config(cls, config: dict) -> 'Settings':
    given = {field: kind(config[key]) for field, key, kind in (
        ('max_ood_share', presets.CONFIG_REFER_MAX_OOD_SHARE, float),
        ('min_faces', presets.CONFIG_REFER_MIN_FACES, int),
        ('confidence_quantile', presets.CONFIG_REFER_CONFIDENCE_QUANTILE, float))
             if config.get(key) is not None}
    return cls(**given)


def rules(ood_threshold: float, eval_confidences: np.ndarray, settings: Settings
          ) -> referral.Rules:
  """The rules of a model: its guard's threshold, and the confidence that
  ``settings.confidence_quantile`` of the eval videos fall under."""
  return referral.Rules(
      ood_threshold=ood_threshold, max_ood_share=settings.max_ood_share,
      min_faces=settings.min_faces, min_confidence=referral.choose_min_confidence(
          eval_confidences, settings.confidence_quantile))
