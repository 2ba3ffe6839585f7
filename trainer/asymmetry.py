"""A mirror-asymmetry head (not in the paper): palsy is one-sided, so the head compares a
crop's feature maps with those of its mirror image.

For a backbone ``f`` with spatial maps and ``flip`` the horizontal flip (width axis), the
head reads, per level, the global average pools of

* ``(f(x) + f(flip(x))) / 2``: the plain features, averaged over the crop and its mirror;
* ``|f(x) - f(flip(x))|``: the asymmetry map. At a position on the left it compares the
  features of the face there with those of the mirrored right side, so it is zero for a
  face that is its own mirror image, whatever ``f`` is.

Both are symmetric in ``x`` and ``flip(x)``, so a crop and its mirror give the same maps
and the same head input (up to the backbone's float rounding): the grade does not depend
on which side is affected, and flip augmentation stays valid.

Not ``|f(x) - flip(f(flip(x)))|``, the mirrored features flipped back into place: that
compares each patch with its own mirror image through the same filters, which are not
mirror-symmetric (an edge detector for '/' sees '\\' in the mirror), and it never puts the
left side next to the right. It also depends on ``f`` commuting with flip, which dlib's
ResNet does not quite do: its strided convolutions and pools have no padding, so on an even
width their window grid is not its own mirror (the 7x7/2 stem never reads the last of 150
columns), and its residual sums zero-pad at the right end only. On dlib's features its mean
is 0.84 for the astronaut's face chip and 0.85 for that chip made symmetric: no signal.
The map here gives 0.16 and exactly 0 (tests/test_asymmetry_head.py).

What it measures besides the face: where the face sits. The mirror of a symmetric face
whose axis is off the crop's centre is that face shifted, and dlib's features change with
a shift: the symmetric chip with its axis 2 pixels (of 150) off centre scores 0.10, 5
pixels off 0.18, more than the real astronaut. Crops centred on landmarks, as dlib's chips
are, keep that small; face boxes less so.
"""
from typing import List

import keras
from keras import layers


@keras.saving.register_keras_serializable('asymmetry')
class MirrorBatch(layers.Layer):
  """``x`` -> ``[x; flip(x)]`` along the batch: one backbone call for both, 2B images."""

  def call(self, x):
    return keras.ops.concatenate([x, keras.ops.flip(x, axis=2)], axis=0)

  def compute_output_shape(self, input_shape):
    batch = None if input_shape[0] is None else 2 * input_shape[0]
    return (batch,) + tuple(input_shape[1:])


@keras.saving.register_keras_serializable('asymmetry')
class MirrorAsymmetry(layers.Layer):
  """Backbone maps of a MirrorBatch -> per level, the pooled plain features (the mean of
  the crop's and the mirror's) and the pooled asymmetry map, concatenated: all levels'
  plain pools first, then all levels' asymmetry pools."""

  def differences(self, maps) -> List:
    """The asymmetry map ``|f(x) - f(flip(x))|`` of each level."""
    return [keras.ops.abs(crop - mirror) for crop, mirror in map(_halves, maps)]

  def call(self, maps):
    plain = [(_pool(crop) + _pool(mirror)) / 2 for crop, mirror in map(_halves, maps)]
    return keras.ops.concatenate(plain + [_pool(d) for d in self.differences(maps)], axis=-1)

  def compute_output_shape(self, input_shapes):
    batch = input_shapes[0][0]
    return (None if batch is None else batch // 2, 2 * sum(s[-1] for s in input_shapes))


def _halves(maps):
  """The crops' maps and the mirrors' maps of a MirrorBatch."""
  n = keras.ops.shape(maps)[0] // 2
  return maps[:n], maps[n:]


def _pool(maps):
  return keras.ops.mean(maps, axis=(1, 2))


def features(level_maps: keras.Model, inputs):
  """The head's input for ``inputs``: ``level_maps`` (image -> a list of NHWC maps) run
  once on the crops and their mirrors together, compared by MirrorAsymmetry."""
  maps = level_maps(MirrorBatch(name='mirror_batch')(inputs))
  return MirrorAsymmetry(name='mirror_asymmetry')(maps)
