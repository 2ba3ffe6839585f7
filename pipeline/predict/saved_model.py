"""A ``Grader`` (``pipeline.predict.base``) that loads a pushed SavedModel in this process."""
from typing import Sequence

import numpy as np

from pipeline.predict.base import Explanation, Scores, explanation, guard_scores, no_scores
from preprocessing import contract


class SavedModelGrader:
  """A pushed SavedModel version directory, loaded here as TF Serving loads it (the
  ``serve`` tag). With ``explain``, a model without ``serving_explain`` (exported before
  Grad-CAM) is refused now rather than after every input is graded."""

  def __init__(self, model_dir: str, explain: bool = False):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf
    loaded = tf.saved_model.load(model_dir, tags=['serve'])
    for name in [contract.SERVING_IMAGES] + ([contract.SERVING_EXPLAIN] if explain else []):
      if name not in loaded.signatures:
        raise ValueError(f'{model_dir} has no {name} signature (it has '
                         f'{", ".join(sorted(loaded.signatures)) or "none"})')
    self._loaded = loaded  # keeps the variables the signatures read alive

  def _call(self, signature: str, jpegs: Sequence[bytes]) -> dict:
    images = self._tf.constant(list(jpegs), self._tf.string)
    return self._loaded.signatures[signature](**{contract.INPUT_IMAGES: images})

  def scores(self, jpegs: Sequence[bytes]) -> Scores:
    if not jpegs:
      return no_scores()
    out = self._call(contract.SERVING_IMAGES, jpegs)
    ood = out.get(contract.OUTPUT_OOD_SCORE)
    return Scores(out[contract.OUTPUT_PROBABILITIES].numpy().astype(np.float32),
                  guard_scores(None if ood is None else ood.numpy()))

  def explain(self, jpegs: Sequence[bytes]) -> Explanation:
    out = self._call(contract.SERVING_EXPLAIN, jpegs)
    return explanation(out[contract.OUTPUT_PROBABILITIES].numpy(),
                       out[contract.OUTPUT_HEATMAPS].numpy())
