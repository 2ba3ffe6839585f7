"""One-vs-rest ROC curves of the grade probabilities, exact, in numpy.

TFMA's AUC in the metrics table is interpolated over a fixed grid of thresholds; the
report draws the exact curve from the frames' own probabilities, so both numbers
appear and a reader can see they agree.
"""
from typing import NamedTuple, Optional

import numpy as np


class Roc(NamedTuple):
  fpr: np.ndarray
  tpr: np.ndarray
  auc: float


def roc_curve(is_positive, scores) -> Optional[Roc]:
  """False- and true-positive rates at every distinct score, from (0, 0) to (1, 1).

  Tied scores form one step, so the area (trapezoids) counts a tie between a positive
  and a negative as half right, as the Mann-Whitney statistic does. None when there
  are no positives or no negatives: no curve exists.
  """
  positive = np.asarray(is_positive, dtype=bool).reshape(-1)
  scores = np.asarray(scores, dtype=np.float64).reshape(-1)
  if len(positive) != len(scores):
    raise ValueError(f'{len(positive)} labels but {len(scores)} scores')
  num_positive = int(positive.sum())
  num_negative = len(positive) - num_positive
  if num_positive == 0 or num_negative == 0:
    return None
  order = np.argsort(-scores, kind='stable')
  scores, positive = scores[order], positive[order]
  # The last index of each run of equal scores: one point per threshold.
  last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
  true_positives = np.cumsum(positive)[last_of_tie]
  false_positives = (last_of_tie + 1) - true_positives
  tpr = np.r_[0.0, true_positives / num_positive]
  fpr = np.r_[0.0, false_positives / num_negative]
  return Roc(fpr, tpr, float(np.trapz(tpr, fpr)))
