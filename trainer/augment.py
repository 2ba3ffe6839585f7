"""Train-only augmentation as in FP-VGGFace: shear 0.2, horizontal flip, rotation 20°,
zoom 0.2, composed into one random affine warp per image (one resampling, not four).
Keras 3.6 has no shear layer, so the warp is built here.
"""
import math

import tensorflow as tf

SHEAR = 0.2
ROTATION_DEG = 20.0
ZOOM = 0.2


def random_affine(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """Warp a batch [N, H, W, 3] float32 with a random affine transform per image.

  ``seed`` is a [2] integer tensor: stateless random ops give the same warps for the
  same seed however tf.data schedules its parallel calls, so a seeded run repeats.
  """
  shape = tf.shape(images)
  n, h, w = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
  seeds = tf.random.experimental.stateless_split(seed, 4)
  angle = tf.random.stateless_uniform([n], seeds[0], -ROTATION_DEG, ROTATION_DEG) * math.pi / 180
  shear = tf.random.stateless_uniform([n], seeds[1], -SHEAR, SHEAR)
  zoom = tf.random.stateless_uniform([n], seeds[2], 1.0 - ZOOM, 1.0 + ZOOM)
  flip = tf.where(tf.random.stateless_uniform([n], seeds[3]) < 0.5, -1.0, 1.0)
  cos, sin = tf.cos(angle), tf.sin(angle)
  # Output->input mapping M = Rotate @ Shear @ Zoom^-1 @ Flip, about the image centre.
  a0, a1 = cos * flip / zoom, (cos * shear - sin) / zoom
  b0, b1 = sin * flip / zoom, (sin * shear + cos) / zoom
  cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
  a2 = cx - a0 * cx - a1 * cy
  b2 = cy - b0 * cx - b1 * cy
  zeros = tf.zeros_like(a0)
  transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms, output_shape=shape[1:3],
      interpolation='BILINEAR', fill_mode='REFLECT', fill_value=0.0)
