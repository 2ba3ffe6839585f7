"""Where the grade probabilities of face crops come from, behind one small interface.

``palsy-tfx predict`` crops faces on the caller's side and sends the JPEG crops to a
``Grader``: a SavedModel loaded in this process (``SavedModelGrader``), or TF Serving
over REST or gRPC (``pipeline.serving_clients``), all through the model's
``serving_images`` signature, so every route grades the same bytes the same way.
"""
from typing import Protocol, Sequence

import numpy as np

from preprocessing.labels import NUM_GRADES

SIGNATURE = 'serving_images'  # input 'images' (encoded JPEG/PNG), output 'probabilities'


class Grader(Protocol):

  def probabilities(self, jpegs: Sequence[bytes]) -> np.ndarray:
    """(len(jpegs), 6) float32 softmax rows, one per JPEG face crop, in order; one
    model call for the whole batch."""


def no_rows() -> np.ndarray:
  """What a grader returns for no crops, without calling the model."""
  return np.zeros((0, NUM_GRADES), np.float32)


class SavedModelGrader:
  """A pushed SavedModel version directory, loaded here as TF Serving loads it (the
  ``serve`` tag)."""

  def __init__(self, model_dir: str):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf
    loaded = tf.saved_model.load(model_dir, tags=['serve'])
    if SIGNATURE not in loaded.signatures:
      raise ValueError(f'{model_dir} has no {SIGNATURE} signature (it has '
                       f'{", ".join(sorted(loaded.signatures)) or "none"})')
    self._loaded = loaded  # keeps the variables the signature reads alive
    self._serve = loaded.signatures[SIGNATURE]

  def probabilities(self, jpegs: Sequence[bytes]) -> np.ndarray:
    if not jpegs:
      return no_rows()
    out = self._serve(images=self._tf.constant(list(jpegs), self._tf.string))
    return out['probabilities'].numpy().astype(np.float32)
