"""Grad-CAM (Selvaraju et al., ICCV 2017) for the grading model: which regions of a face
crop drove its grade.

For the predicted grade ``c`` and a spatial feature map ``A`` (channels ``k``), the map is
``relu(sum_k w_k A_k)`` with ``w_k`` the spatial mean of ``d y_c / d A_k``, where ``y_c``
is the grade's score before the softmax (the softmax's gradient vanishes for a sure
prediction). It is upsampled to the crop's size (bilinear) and scaled to [0, 1] per
image; a map that is zero everywhere stays zero.

Which map (``cam_model``):

* a backbone that hands over a map (small_cnn, VGGFace, keras VGG16/ResNet50): the map
  the head pools, the last one (at 224 px: 7x7; small_cnn at 64 px: 4x4);
* dlib_resnet, either head: the output of level ``DLIB_LEVEL`` (alevel2), 8x8 on its
  150 px input. The later levels that the head also reads are too coarse to tell an eye
  from a mouth corner (alevel1 4x4, alevel0 2x2); their gradients reach alevel2 through
  the network, so the map accounts for them. The plain head's backbone pools inside
  itself, so its level maps and pools are called again in the open, on the same layers;
* the asymmetry head reads the crop's maps and its mirror image's: the mirror half's map
  is flipped back and added before the ``relu``, so a region counts whether it drove the
  grade as itself or as its mirror. (dlib's grid is not quite its own mirror image, see
  ``trainer.asymmetry``: the flipped map is off by up to a pixel of the 8x8 map.)
"""
from typing import Tuple

import keras
import tensorflow as tf

from preprocessing import contract
from trainer import dlib_resnet, model

DLIB_LEVEL = 'alevel2'
# The softmax layer of trainer.model.build_classifier, named after the output it gives.
PROBABILITIES = contract.OUTPUT_PROBABILITIES


def cam_model(classifier: keras.Model) -> Tuple[keras.Model, bool]:
  """A model sharing ``classifier``'s layers: image -> [feature map, the pooled features
  (``model.pooled_features``, the guard's input), the softmax layer's input]; and whether
  the map is a mirror batch (crops, then mirrors)."""
  softmax = classifier.get_layer(PROBABILITIES)
  names = {layer.name for layer in classifier.layers}
  level = dlib_resnet.FEATURE_LEVELS.index(DLIB_LEVEL)
  if 'mirror_asymmetry' in names:
    maps = classifier.get_layer('mirror_asymmetry').input
    return keras.Model(classifier.input, [maps[level], model.pooled_features(classifier),
                                          softmax.input], name='gradcam'), True
  if 'head_pool' in names:  # the backbone's output map, pooled by the head
    return keras.Model(classifier.input, [classifier.get_layer('head_pool').input,
                                          model.pooled_features(classifier), softmax.input],
                       name='gradcam'), False
  backbone = classifier.get_layer('dlib_resnet')
  maps = dlib_resnet.level_maps(backbone)(classifier.input)
  x = backbone.get_layer('features')([backbone.get_layer(f'{name}_pool')(m)
                                      for name, m in zip(dlib_resnet.FEATURE_LEVELS, maps)])
  features = x
  for layer in classifier.layers[classifier.layers.index(backbone) + 1:]:
    if layer is softmax:
      break
    x = layer(x)
  return keras.Model(classifier.input, [maps[level], features, x], name='gradcam'), False


def explain(softmax: keras.layers.Dense, cam: keras.Model, mirrored: bool,
            images: tf.Tensor, size: int) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """(logits [n, grades], pooled features [n, d] in float32, heatmaps [n, size, size] in
  [0, 1]) for a batch of normalised images, each heatmap for that image's most probable
  grade; ``softmax`` is the classifier's last layer. The logits, not probabilities: the
  caller calibrates them (``trainer.export``), which changes neither the grade nor, as the
  map is scaled to its peak, the heatmap. The features come from the same pass, for the
  caller's out-of-distribution guard (``trainer.ood``)."""
  with tf.GradientTape() as tape:
    tape.watch(images)  # the backbone may be frozen: record its ops all the same
    feature_map, features, hidden = cam(images, training=False)
    logits = model.logits(softmax, hidden)
    # Each image's score depends on its own map only (and on its mirror's), so the
    # gradient of the sum is each image's own.
    score = tf.gather(logits, tf.argmax(logits, axis=1), batch_dims=1)
  gradients = tf.cast(tape.gradient(score, feature_map), tf.float32)
  feature_map = tf.cast(feature_map, tf.float32)
  weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
  raw = tf.reduce_sum(weights * feature_map, axis=-1)
  if mirrored:
    n = tf.shape(raw)[0] // 2
    raw = raw[:n] + tf.reverse(raw[n:], axis=[2])
  heatmaps = tf.image.resize(tf.nn.relu(raw)[..., None], (size, size), 'bilinear')[..., 0]
  peak = tf.reduce_max(heatmaps, axis=(1, 2), keepdims=True)
  return logits, tf.cast(features, tf.float32), tf.math.divide_no_nan(heatmaps, peak)
