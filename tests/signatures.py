"""Calls every serving signature of a loaded SavedModel on the same inputs, so a test that
checks an export reads all three the way TF Serving would."""
from typing import Dict, Sequence

import tensorflow as tf

from preprocessing import contract


def call_all(loaded, examples: Sequence[bytes], images: Sequence[bytes]) -> Dict[str, dict]:
  """Signature name -> its outputs: serialized tf.Examples to ``serving_default``, encoded
  crops to ``serving_images`` and ``serving_explain``."""
  return {
      contract.SERVING_DEFAULT: loaded.signatures[contract.SERVING_DEFAULT](
          examples=tf.constant(list(examples))),
      contract.SERVING_IMAGES: loaded.signatures[contract.SERVING_IMAGES](
          images=tf.constant(list(images))),
      contract.SERVING_EXPLAIN: loaded.signatures[contract.SERVING_EXPLAIN](
          images=tf.constant(list(images))),
  }
