"""The one small interface behind which the grade probabilities of face crops come from.

``palsy-tfx predict`` crops faces on the caller's side and sends the JPEG crops to a
``Grader``: a SavedModel loaded in this process (``saved_model.SavedModelGrader``), or TF
Serving over REST or gRPC (``tf_serving``), all through the model's ``serving_images``
signature, so every route grades the same bytes the same way. For ``predict --explain``
the same routes call ``serving_explain``, which also returns each crop's Grad-CAM heatmap
(``trainer.gradcam``). As Beam's ``apache_beam/ml/inference`` keeps ``base.py`` and one
module per backend, a new backend is one module that implements ``Grader``.
"""
from typing import List, NamedTuple, Optional, Protocol, Sequence

import numpy as np

from preprocessing.labels import GRADES, NUM_GRADES


class Explanation(NamedTuple):
  grades: List[str]            # each crop's most probable grade
  probabilities: np.ndarray    # [n, grades]
  heatmaps: np.ndarray         # [n, image_size, image_size] in [0, 1]


def explanation(probabilities: np.ndarray, heatmaps: np.ndarray) -> Explanation:
  """``serving_explain``'s answer, each heatmap for its crop's argmax grade (the rule of
  the signature's own ``grade`` output, applied here so that no route parses strings)."""
  probabilities = np.asarray(probabilities, np.float32)
  return Explanation([GRADES[i] for i in probabilities.argmax(axis=1)], probabilities,
                     np.asarray(heatmaps, np.float32))


class Scores(NamedTuple):
  """A batch of crops' answers from ``serving_images``."""
  probabilities: np.ndarray          # [n, 6] float32 calibrated softmax rows, in order
  ood_scores: Optional[np.ndarray]   # [n] float32; None: a model exported without the guard


class Grader(Protocol):

  def scores(self, jpegs: Sequence[bytes]) -> Scores:
    """The JPEG face crops' probabilities and out-of-distribution scores, a row per
    crop in order; one model call for the whole batch."""

  def explain(self, jpegs: Sequence[bytes]) -> Explanation:
    """The crops through ``serving_explain``: their probabilities and heatmaps."""


def guard_scores(values) -> Optional[np.ndarray]:
  """A model's ``ood_score`` rows as float32, or None when it has no guard: it lacks the
  output (exported before it) or serves NaN (exported without the Trainer's fit)."""
  if values is None:
    return None
  values = np.asarray(values, np.float32).reshape(-1)
  return None if values.size and np.isnan(values).all() else values


def no_rows() -> np.ndarray:
  """No crops' probabilities, without calling the model."""
  return np.zeros((0, NUM_GRADES), np.float32)


def no_scores() -> Scores:
  """What a grader returns for no crops, without calling the model."""
  return Scores(no_rows(), np.zeros((0,), np.float32))
