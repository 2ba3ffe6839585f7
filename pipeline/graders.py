"""Where the grade probabilities of face crops come from, behind one small interface.

``palsy-tfx predict`` crops faces on the caller's side and sends the JPEG crops to a
``Grader``: a SavedModel loaded in this process (``SavedModelGrader``), or TF Serving
over REST or gRPC (``pipeline.serving_clients``), all through the model's
``serving_images`` signature, so every route grades the same bytes the same way. For
``predict --explain`` the same routes call ``serving_explain``, which also returns each
crop's Grad-CAM heatmap (``trainer.gradcam``).
"""
from typing import List, NamedTuple, Protocol, Sequence

import numpy as np

from preprocessing.labels import GRADES, NUM_GRADES

SIGNATURE = 'serving_images'  # input 'images' (encoded JPEG/PNG), output 'probabilities'
EXPLAIN_SIGNATURE = 'serving_explain'  # input 'images'; 'probabilities' and 'heatmaps'
HEATMAPS = 'heatmaps'


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


class Grader(Protocol):

  def probabilities(self, jpegs: Sequence[bytes]) -> np.ndarray:
    """(len(jpegs), 6) float32 softmax rows, one per JPEG face crop, in order; one
    model call for the whole batch."""

  def explain(self, jpegs: Sequence[bytes]) -> Explanation:
    """The crops through ``serving_explain``: their probabilities and heatmaps."""


def no_rows() -> np.ndarray:
  """What a grader returns for no crops, without calling the model."""
  return np.zeros((0, NUM_GRADES), np.float32)


class SavedModelGrader:
  """A pushed SavedModel version directory, loaded here as TF Serving loads it (the
  ``serve`` tag). With ``explain``, a model without ``serving_explain`` (exported before
  Grad-CAM) is refused now rather than after every input is graded."""

  def __init__(self, model_dir: str, explain: bool = False):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf
    loaded = tf.saved_model.load(model_dir, tags=['serve'])
    for name in [SIGNATURE] + ([EXPLAIN_SIGNATURE] if explain else []):
      if name not in loaded.signatures:
        raise ValueError(f'{model_dir} has no {name} signature (it has '
                         f'{", ".join(sorted(loaded.signatures)) or "none"})')
    self._loaded = loaded  # keeps the variables the signatures read alive

  def _call(self, signature: str, jpegs: Sequence[bytes]) -> dict:
    images = self._tf.constant(list(jpegs), self._tf.string)
    return self._loaded.signatures[signature](images=images)

  def probabilities(self, jpegs: Sequence[bytes]) -> np.ndarray:
    if not jpegs:
      return no_rows()
    return self._call(SIGNATURE, jpegs)['probabilities'].numpy().astype(np.float32)

  def explain(self, jpegs: Sequence[bytes]) -> Explanation:
    out = self._call(EXPLAIN_SIGNATURE, jpegs)
    return explanation(out['probabilities'].numpy(), out[HEATMAPS].numpy())
