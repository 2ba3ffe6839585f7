"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) in Keras 3,
with its weights read from dlib's own ``.dat`` file.

Why this network: it is a real face backbone (trained on about three million faces, 99.38%
on LFW) whose weights are CC0 and ship in a locked PyPI package, so a site without internet
gets them like any other dependency. The architecture is dlib's
``examples/dnn_face_recognition_ex.cpp``, layer for layer:

* 150x150 RGB, normalised as ``preprocessing.image_ops.normalise(x, 'dlib')``;
* a 7x7/2 convolution, affine, relu, 3x3/2 max pool; then 14 residual blocks in five levels
  (dlib's names, from the input: alevel4 32 filters, alevel3 64, alevel2 128, alevel1 256,
  alevel0 256), each block conv-affine-relu-conv-affine plus its input, then relu;
* the first block of alevel3..alevel0 downsamples: a 3x3/2 convolution, and a 2x2/2 average
  pool on the skip path;
* a global average pool and a 128-D fully connected layer without bias: the descriptor,
  used as it comes out (dlib does not L2-normalise it).

dlib's conventions that a Keras rebuild must copy: ``affine`` layers stand where batch norm
was in training (a fixed per-channel scale and shift); a strided convolution or pool has no
padding and a stride-1 convolution pads ``size // 2`` ('valid' and 'same' here); and the
residual sum zero-pads the smaller tensor at the end of each axis (``PaddedAdd``).
"""
from typing import Dict, Optional

import keras
from keras import layers
import numpy as np

from preprocessing import face_models, image_ops
from trainer import dlib_dat, weight_files
INPUT_SIZE = 150
DESCRIPTOR_SIZE = 128
# (dlib's name, filters, blocks, whether the first block downsamples), input to output.
LEVELS = (('alevel4', 32, 3, False), ('alevel3', 64, 4, True), ('alevel2', 128, 3, True),
          ('alevel1', 256, 3, True), ('alevel0', 256, 1, True))
# The levels whose pooled maps feed a grading head: the descriptor is trained to ignore
# expression, which is what palsy changes, and the earlier maps have not yet discarded it.
# The descriptor itself is left out: it is a linear map (fc, no bias) of alevel0's pooled
# map, so it would add nothing a dense head cannot learn from that map.
FEATURE_LEVELS = ('alevel2', 'alevel1', 'alevel0')


@keras.saving.register_keras_serializable('dlib_resnet')
class Affine(layers.Layer):
  """dlib's ``affine_``: ``x * gamma + beta`` per channel. The values are the batch-norm
  statistics frozen at the end of dlib's training, so they never train, whatever
  ``trainable`` says: fine-tuning on a few hundred faces would only unsettle them."""

  def build(self, input_shape):
    channels = input_shape[-1]
    self.gamma = self.add_weight(shape=(channels,), initializer='ones', trainable=False,
                                 name='gamma')
    self.beta = self.add_weight(shape=(channels,), initializer='zeros', trainable=False,
                                name='beta')

  def call(self, x):
    return x * self.gamma + self.beta


@keras.saving.register_keras_serializable('dlib_resnet')
class PaddedAdd(layers.Layer):
  """dlib's ``add_prev_``: the sum of two maps of different shapes, each zero-padded at the
  end of every axis to the larger size (``cpu_dlib.cpp``, ``add``). A downsampling block
  needs it twice over: its skip path has half the channels, and in alevel1 the skip's
  2x2/2 average pool of an 8x8 map is 4x4 while the 3x3/2 convolution gives 3x3.
  Height and width may be known only at run time (augmented training batches are)."""

  def call(self, inputs):
    shapes = [keras.ops.shape(x) for x in inputs]
    target = [_larger(p, q) for p, q in zip(*shapes)]
    total = 0
    for x, shape in zip(inputs, shapes):
      total += keras.ops.pad(x, [[0, 0]] + [[0, t - s] for t, s in zip(target[1:], shape[1:])])
    return total

  def compute_output_shape(self, input_shapes):
    a, b = input_shapes
    return (a[0],) + tuple(None if x is None or y is None else max(x, y)
                           for x, y in zip(a[1:], b[1:]))


def _larger(p, q):
  """The larger of two sizes, each a number or a run-time scalar: static stays static."""
  if isinstance(p, int) and isinstance(q, int):
    return max(p, q)
  return keras.ops.maximum(p, q)


def _conv_affine(x, filters: int, size: int, stride: int, name: str):
  x = layers.Conv2D(filters, size, strides=stride, padding='same' if stride == 1 else 'valid',
                    name=f'{name}_conv')(x)
  return Affine(name=f'{name}_affine')(x)


def _block(x, filters: int, down: bool, name: str):
  """dlib's ``ares`` (or ``ares_down``): relu(block(x) + x)."""
  y = _conv_affine(x, filters, 3, 2 if down else 1, f'{name}_a')
  y = layers.ReLU(name=f'{name}_a_relu')(y)
  y = _conv_affine(y, filters, 3, 1, f'{name}_b')
  if down:
    x = layers.AveragePooling2D(2, name=f'{name}_skip_pool')(x)
  return layers.ReLU(name=f'{name}_out')(PaddedAdd(name=f'{name}_add')([y, x]))


def _network(x) -> Dict[str, keras.KerasTensor]:
  """The layers on a normalised 150x150 tensor: each level's output and the descriptor."""
  x = layers.ReLU(name='stem_relu')(_conv_affine(x, 32, 7, 2, 'stem'))
  x = layers.MaxPooling2D(3, strides=2, name='stem_pool')(x)
  outputs = {}
  for level, filters, blocks, down in LEVELS:
    for i in range(1, blocks + 1):
      x = _block(x, filters, down and i == 1, f'{level}_{i}')
    outputs[level] = x
  pooled = layers.GlobalAveragePooling2D(name='descriptor_pool')(x)
  outputs['descriptor'] = layers.Dense(DESCRIPTOR_SIZE, use_bias=False,
                                       name='descriptor')(pooled)
  return outputs


def _check_input(layer: dlib_dat.Layer, path: str) -> None:
  """The file's normalisation and size must be the ones ``image_ops`` applies."""
  mean = np.float32(layer.params['mean_rgb'])
  if not np.array_equal(mean, np.float32(image_ops.DLIB_MEAN_RGB)) or (
      layer.params['size'] != (INPUT_SIZE, INPUT_SIZE)):
    raise face_models.WeightsMismatch(
        f'{path}: input layer has mean {tuple(mean)} and size {layer.params["size"]}, the '
        f'model expects {image_ops.DLIB_MEAN_RGB} and {(INPUT_SIZE, INPUT_SIZE)}')


def _values(layer: keras.layers.Layer, stored: dlib_dat.Layer):
  """The Keras weights for ``layer`` from the file's layer, or a reason they do not fit."""
  p = stored.params
  if isinstance(layer, layers.Conv2D) and stored.kind == 'con' and p['biases'] is not None:
    size = layer.kernel_size[0]
    padding = (size // 2,) * 2 if layer.padding == 'same' else (0, 0)
    if p['strides'] != layer.strides or p['padding'] != padding:
      return None, (f'file has strides {p["strides"]} padding {p["padding"]}, model '
                    f'{layer.strides} {padding}')
    # dlib filters are [out, in, rows, cols]; Keras kernels [rows, cols, in, out].
    return [p['filters'].transpose(2, 3, 1, 0), p['biases']], None
  if isinstance(layer, Affine) and stored.kind == 'affine':
    return [p['gamma'], p['beta']], None
  if isinstance(layer, layers.Dense) and stored.kind == 'fc' and p['bias'] is None:
    return [p['kernel']], None
  return None, f'file has {stored.version}'


def load_dat(model: keras.Model, path: str) -> int:
  """Load dlib's weights into ``model``, whose weighted layers are dlib's, in order.

  Each chain of weighted layers is in dlib's order in any topological order, so the
  model's weighted layers must be the file's or all but its last (the descriptor): a model
  of the feature levels only loads too. Every misfit is listed in one WeightsMismatch.
  Returns the number of layers loaded.
  """
  network = dlib_dat.read_file(path)
  _check_input(network.layers[0], path)
  stored = [layer for layer in network.layers if layer.kind in ('con', 'affine', 'fc')]
  targets = [layer for layer in model.layers if layer.weights]
  problems = []
  if len(targets) not in (len(stored), len(stored) - 1):
    problems.append(f'model has {len(targets)} weighted layers, the file {len(stored)}')
  assignments = []
  for layer, from_file in zip(targets, stored):
    values, problem = _values(layer, from_file)
    expected = [tuple(w.shape) for w in layer.weights]
    if values is not None and [v.shape for v in values] != expected:
      problem = f'model expects {expected}, file has {[v.shape for v in values]}'
    if problem:
      problems.append(f'{layer.name}: {problem}')
    else:
      assignments.append((layer, values))
  if problems:
    raise face_models.WeightsMismatch(f'{path} does not fit model {model.name}; '
                                  f'{len(problems)} problem(s):\n  ' + '\n  '.join(problems))
  for layer, values in assignments:
    layer.set_weights(values)
  return len(assignments)


def weights_file(explicit: Optional[str] = None) -> str:
  """``explicit``, else the file in the installed face-recognition-models (sha256
  checked), else WeightsNotFound saying what to install."""
  return weight_files.backbone_file('dlib_resnet', explicit or '')


def build_descriptor_model(weights_path: Optional[str] = None) -> keras.Model:
  """150x150 RGB faces in 0..255 (dlib's aligned chips) -> dlib's 128-D descriptors, the
  values ``dlib.face_recognition_model_v1.compute_face_descriptor`` gives."""
  path = weights_file(weights_path)
  inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name='image')
  x = layers.Normalization(mean=image_ops.DLIB_MEAN_RGB,
                           variance=[image_ops.DLIB_SCALE ** 2] * 3, name='dlib_input')(inputs)
  model = keras.Model(inputs, _network(x)['descriptor'], name='dlib_face_descriptor')
  load_dat(model, path)
  return model


def build_feature_model(image_size: int = INPUT_SIZE) -> keras.Model:
  """Normalised (``'dlib'``) RGB of ``image_size`` -> the global average pools of
  FEATURE_LEVELS, concatenated (128 + 256 + 256 values), with random weights: load them
  with ``load_dat``. Another size is resized to 150 inside the model, by area averaging
  when it shrinks (no aliasing); the normalisation is affine, so resizing after it is the
  same as before."""
  inputs = keras.Input((image_size, image_size, 3), name='image')
  x = inputs
  if image_size != INPUT_SIZE:
    x = layers.Resizing(INPUT_SIZE, INPUT_SIZE, name='resize_to_150',
                        interpolation='area' if image_size > INPUT_SIZE else 'bilinear')(x)
  maps = _network(x)
  pooled = [layers.GlobalAveragePooling2D(name=f'{level}_pool')(maps[level])
            for level in FEATURE_LEVELS]
  features = layers.Concatenate(name='features')(pooled)
  return keras.Model(inputs, features, name='dlib_resnet')


def level_maps(feature_model: keras.Model) -> keras.Model:
  """The maps that ``feature_model`` (from ``build_feature_model``) pools, FEATURE_LEVELS in
  order, before pooling: for a head that compares maps (``trainer.asymmetry``). It shares
  the feature model's layers, so their weights and which of them train."""
  return keras.Model(feature_model.input,
                     [feature_model.get_layer(f'{level}_pool').input for level in FEATURE_LEVELS],
                     name='dlib_resnet_maps')
