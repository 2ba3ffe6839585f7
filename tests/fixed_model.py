"""A SavedModel whose grade probabilities depend only on a feature the test controls.

It has the same serving signature as the Trainer's export (serialized tf.Examples in,
``probabilities`` and ``grade`` out), so TFMA evaluates it exactly as it evaluates a
trained model, but each frame's prediction is the example's ``pred`` feature: 0.5 on
that grade and 0.1 on each other one. Every metric of an evaluation is then known by
hand. Saved with a ``temperature`` T, it also outputs ``logits`` = T ln(probabilities),
as a temperature-scaled model does (its probabilities are softmax(logits / T)). Saved
with referral ``rules``, it also outputs each example's ``ood`` feature as its
``ood_score`` and the rules on every row, as the Trainer's ``serving_default`` does.
"""
import os

import tensorflow as tf

from preprocessing.labels import GRADES, NUM_GRADES

TOP, REST = 0.5, 0.1  # 0.5 + 5 * 0.1 = 1: a proper softmax row


class FixedGrader(tf.Module):

  def __init__(self, temperature=None, rules=None):
    super().__init__()
    self._temperature = temperature
    self._rules = None if rules is None else tf.constant([rules.as_row()], tf.float32)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(self, examples):
    parsed = tf.io.parse_example(examples, {
        'pred': tf.io.FixedLenFeature([], tf.int64),
        'ood': tf.io.FixedLenFeature([], tf.float32, default_value=0.0)})
    probabilities = REST + (TOP - REST) * tf.one_hot(parsed['pred'], NUM_GRADES)
    grade = tf.gather(tf.constant(GRADES), parsed['pred'])
    outputs = {'probabilities': probabilities, 'grade': grade}
    if self._temperature is not None:
      outputs['logits'] = self._temperature * tf.math.log(probabilities)
    if self._rules is not None:
      outputs['ood_score'] = parsed['ood']
      outputs['referral_rules'] = tf.tile(self._rules, [tf.shape(examples)[0], 1])
    return outputs


def save(model_dir: str, temperature=None, rules=None) -> str:
  """Write the model where TFX's Model artifact keeps it; return the artifact URI.
  ``rules``: a ``preprocessing.referral.Rules``."""
  module = FixedGrader(temperature, rules)
  tf.saved_model.save(module, os.path.join(model_dir, 'Format-Serving'),
                      signatures={'serving_default': module.serve_examples})
  return model_dir


def example(label: int, pred: int, subject: str, video: str, source: str = 'meei',
            ood: float = 0.0) -> bytes:
  return tf.train.Example(features=tf.train.Features(feature={
      'ood': tf.train.Feature(float_list=tf.train.FloatList(value=[ood])),
      'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
      'pred': tf.train.Feature(int64_list=tf.train.Int64List(value=[pred])),
      'subject_id': tf.train.Feature(bytes_list=tf.train.BytesList(value=[subject.encode()])),
      'video_id': tf.train.Feature(bytes_list=tf.train.BytesList(value=[video.encode()])),
      'source': tf.train.Feature(bytes_list=tf.train.BytesList(value=[source.encode()])),
  })).SerializeToString()
