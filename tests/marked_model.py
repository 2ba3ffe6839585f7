"""A hand-weighted classifier whose grade depends on two marks in the image, with the
layer names of ``trainer.model.build_classifier``'s plain head, so Grad-CAM reads it as
it reads a trained model.

On 32x32 RGB in 0..1: channel 0 of its 8x8 map is where the image is red, channel 1
where it is blue (a 1x1 convolution, relu, 4x4 max pool). The head pools the map, and the
grade scores are ``RED_WEIGHT * red`` for complete and ``BLUE_WEIGHT * blue`` for normal,
0 for the rest. So with a red and a blue mark of one size the grade is complete and only
the red mark drove it; mask the red one and the grade is normal, driven by the blue one;
with neither, no region drove anything.
"""
import keras
from keras import layers
import numpy as np

from preprocessing.labels import GRADES

SIZE = 32
RED_WEIGHT, BLUE_WEIGHT = 40.0, 20.0
GRAY = 0.5
# (rows, columns) of the marks: off the diagonal, so a transposed or mirrored heatmap
# lands on the wrong mark.
RED = (slice(0, 8), slice(24, 32))     # top right
BLUE = (slice(24, 32), slice(0, 8))    # bottom left


def build() -> keras.Model:
  inputs = keras.Input((SIZE, SIZE, 3), name='image')
  detect = layers.Conv2D(2, 1, activation='relu', name='detect')
  x = layers.MaxPooling2D(4, name='pool')(detect(inputs))
  x = layers.GlobalAveragePooling2D(name='head_pool')(x)
  softmax = layers.Dense(len(GRADES), activation='softmax', name='probabilities')
  model = keras.Model(inputs, softmax(x))
  # red: R - G - B; blue: B - R - G (zero on gray, one on a pure mark)
  detect.set_weights([np.array([[1, -1], [-1, -1], [-1, 1]], np.float32).reshape(1, 1, 3, 2),
                      np.zeros(2, np.float32)])
  kernel = np.zeros((2, len(GRADES)), np.float32)
  kernel[0, GRADES.index('complete')] = RED_WEIGHT
  kernel[1, GRADES.index('normal')] = BLUE_WEIGHT
  softmax.set_weights([kernel, np.zeros(len(GRADES), np.float32)])
  return model


def image(red: bool = True, blue: bool = True) -> np.ndarray:
  """A gray image with the marks asked for."""
  out = np.full((SIZE, SIZE, 3), GRAY, np.float32)
  if red:
    out[RED] = (1, 0, 0)
  if blue:
    out[BLUE] = (0, 0, 1)
  return out
