"""When a grade should not be trusted: the referral rule, one for every route.

A grader that is sure of everything is dangerous at the bedside. Each graded video or
still gets, beside its grade, how far to trust it and whether to refer it to a clinician
instead, with the reasons:

- **out of distribution:** more than ``max_ood_share`` of its face frames score over the
  model's guard threshold (``ood_score``, computed in the serving graph; larger is more
  unlike the training crops; the threshold was set on the eval split by the Trainer);
- **low confidence:** its confidence, the top probability of the mean of its frames'
  calibrated probabilities (the Evaluator's aggregation rule), is under
  ``min_confidence``, chosen on the eval split (``choose_min_confidence``);
- **too few faces:** fewer frames with a face than ``min_faces``; a file that gave fewer
  frames than that (a still gives one) needs a face in each of them.

The thresholds are recorded in the model (``palsy_model.json``'s ``referral``), so that
``predict`` through any route, the archive grader and the Evaluator apply the same rule.
Pure numpy: the Trainer, the Evaluator and the clients all import it.
"""
import dataclasses
from typing import List, Optional, Sequence

import numpy as np

OUT_OF_DISTRIBUTION = 'out of distribution'
LOW_CONFIDENCE = 'low confidence'
TOO_FEW_FACES = 'too few faces'
REASONS = (OUT_OF_DISTRIBUTION, LOW_CONFIDENCE, TOO_FEW_FACES)

DEFAULT_MAX_OOD_SHARE = 0.5        # most of a file's faces unlike the training crops
DEFAULT_CONFIDENCE_QUANTILE = 0.05  # the eval videos' confidence that 5% fall under
DEFAULT_MIN_FACES = 3


@dataclasses.dataclass(frozen=True)
class Rules:
  """The referral thresholds a model carries. ``ood_threshold`` None: a model without
  the guard (exported before it), whose files are never referred as out of distribution."""
  ood_threshold: Optional[float] = None
  max_ood_share: float = DEFAULT_MAX_OOD_SHARE
  min_confidence: float = 0.0
  min_faces: int = DEFAULT_MIN_FACES

  def __post_init__(self):
    if not 0 <= self.max_ood_share < 1:
      raise ValueError(f'max_ood_share {self.max_ood_share}: give a share in [0, 1)')
    if not 0 <= self.min_confidence <= 1:
      raise ValueError(f'min_confidence {self.min_confidence}: give a probability in [0, 1]')
    if self.min_faces < 1:
      raise ValueError(f'min_faces {self.min_faces}: give at least 1')

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)

  def as_row(self) -> List[float]:
    """The rules as ``contract.REFERRAL_RULE_FIELDS`` numbers (no guard: NaN), the form
    ``serving_default`` repeats on every row for the Evaluator."""
    return [float('nan') if self.ood_threshold is None else float(self.ood_threshold),
            float(self.max_ood_share), float(self.min_confidence), float(self.min_faces)]

  @classmethod
  def from_row(cls, row: Sequence[float]) -> 'Rules':
    ood_threshold, max_ood_share, min_confidence, min_faces = (float(v) for v in row)
    return cls(None if np.isnan(ood_threshold) else ood_threshold, max_ood_share,
               min_confidence, int(round(min_faces)))

  @classmethod
  def from_model(cls, model: Optional[dict]) -> 'Rules':
    """The rules of a model's ``palsy_model.json`` (its ``referral``); a model from
    before the rule refers only for too few faces."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in ((model or {}).get('referral') or {}).items() if k in known})


@dataclasses.dataclass(frozen=True)
class Referral:
  confidence: float            # top probability of the pooled (mean) probabilities
  ood_score: Optional[float]   # the median of the face frames' scores; None: no guard
  ood_share: Optional[float]   # the share of face frames over the threshold
  refer: bool
  refer_reasons: List[str]     # in REASONS order; empty exactly when not referred

  def as_json(self) -> dict:
    return dataclasses.asdict(self)


def confidence(pooled_probabilities: Sequence[float]) -> float:
  return float(np.max(pooled_probabilities))


def reasons(top: float, ood_share: Optional[float], faces_found: int, frames_sampled: int,
            rules: Rules) -> List[str]:
  """The rule itself, on a file's (or subject's) confidence ``top``, the share of its
  faces over the guard's threshold (None: no guard) and its frame counts."""
  found = []
  if ood_share is not None and ood_share > rules.max_ood_share:
    found.append(OUT_OF_DISTRIBUTION)
  if top < rules.min_confidence:
    found.append(LOW_CONFIDENCE)
  if faces_found < min(rules.min_faces, max(frames_sampled, 1)):
    found.append(TOO_FEW_FACES)
  return found


def decide(pooled_probabilities: Sequence[float], ood_scores: Optional[Sequence[float]],
           faces_found: int, frames_sampled: int, rules: Rules) -> Referral:
  """The referral of one graded file from its pooled probabilities, its face frames'
  ``ood_scores`` (None: the model has no guard) and its frame counts."""
  ood_score = ood_share = None
  if ood_scores is not None and rules.ood_threshold is not None and len(ood_scores):
    scores = np.asarray(ood_scores, np.float64)
    ood_score = float(np.median(scores))
    ood_share = float(np.mean(scores > rules.ood_threshold))
  top = confidence(pooled_probabilities)
  found = reasons(top, ood_share, faces_found, frames_sampled, rules)
  return Referral(top, ood_score, ood_share, bool(found), found)


def choose_min_confidence(eval_confidences: Sequence[float],
                          quantile: float = DEFAULT_CONFIDENCE_QUANTILE) -> float:
  """The confidence under which ``quantile`` of the eval split's videos fall: files the
  model is less sure of than nearly all the held-out videos it was tuned on. Linear
  interpolation between order statistics (numpy's default), 0 for no eval videos."""
  if not 0 <= quantile < 1:
    raise ValueError(f'quantile {quantile}: give a share in [0, 1)')
  values = np.asarray(eval_confidences, np.float64)
  return float(np.quantile(values, quantile)) if values.size else 0.0
