"""VGGFace for Keras 3: vgg16, resnet50 and senet50, layer for layer as rcmalli's
keras-vggface builds them, so the published ``.h5`` weight files load by layer name.

Keras 3 forbids '/' in layer names, which rcmalli's files use ('conv1/7x7_s2/bn');
we write it as '__' and translate when loading (see ``trainer.weights``). The file names
are ``trainer.weight_files.VGGFACE_FILES``.
"""
import keras
from keras import layers


def keras_name(h5_name: str) -> str:
  return h5_name.replace('/', '__')


def h5_name(layer_name: str) -> str:
  return layer_name.replace('__', '/')


def vgg16(input_shape=(224, 224, 3), include_top=False, classes=2622) -> keras.Model:
  inputs = keras.Input(input_shape)
  x = inputs
  for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
    for i in range(1, convs + 1):
      x = layers.Conv2D(filters, 3, activation='relu', padding='same',
                        name=f'conv{block}_{i}')(x)
    x = layers.MaxPooling2D(2, strides=2, name=f'pool{block}')(x)
  if include_top:
    x = layers.Flatten(name='flatten')(x)
    x = layers.Dense(4096, name='fc6')(x)
    x = layers.Activation('relu', name=keras_name('fc6/relu'))(x)
    x = layers.Dense(4096, name='fc7')(x)
    x = layers.Activation('relu', name=keras_name('fc7/relu'))(x)
    x = layers.Dense(classes, name='fc8')(x)
    x = layers.Activation('softmax', name=keras_name('fc8/softmax'))(x)
  return keras.Model(inputs, x, name='vggface_vgg16')


def _bn(x, name, eps):
  return layers.BatchNormalization(axis=3, epsilon=eps, name=keras_name(name + '/bn'))(x)


def _se(x, stage, block):
  channels = x.shape[-1]
  se = layers.GlobalAveragePooling2D()(x)
  se = layers.Reshape((1, 1, channels))(se)
  se = layers.Conv2D(channels // 16, 1, use_bias=True, name=f'conv{stage}_{block}_1x1_down')(se)
  se = layers.Activation('relu')(se)
  se = layers.Conv2D(channels, 1, use_bias=True, name=f'conv{stage}_{block}_1x1_up')(se)
  se = layers.Activation('sigmoid')(se)
  return layers.multiply([x, se])


def _bottleneck(x, filters, stage, block, strides, project, squeeze, eps):
  f1, f2, f3 = filters
  name = f'conv{stage}_{block}'
  y = layers.Conv2D(f1, 1, strides=strides, use_bias=False, name=f'{name}_1x1_reduce')(x)
  y = layers.Activation('relu')(_bn(y, f'{name}_1x1_reduce', eps))
  y = layers.Conv2D(f2, 3, padding='same', use_bias=False, name=f'{name}_3x3')(y)
  y = layers.Activation('relu')(_bn(y, f'{name}_3x3', eps))
  y = layers.Conv2D(f3, 1, use_bias=False, name=f'{name}_1x1_increase')(y)
  y = _bn(y, f'{name}_1x1_increase', eps)
  if squeeze:
    y = _se(y, stage, block)
  if project:
    x = layers.Conv2D(f3, 1, strides=strides, use_bias=False, name=f'{name}_1x1_proj')(x)
    x = _bn(x, f'{name}_1x1_proj', eps)
  return layers.Activation('relu')(layers.add([y, x]))


def _resnet(input_shape, include_top, classes, squeeze, name) -> keras.Model:
  eps = 1e-4 if squeeze else 1e-3
  inputs = keras.Input(input_shape)
  x = layers.Conv2D(64, 7, strides=2, padding='same', use_bias=False,
                    name=keras_name('conv1/7x7_s2'))(inputs)
  x = layers.Activation('relu')(_bn(x, 'conv1/7x7_s2', eps))
  x = layers.MaxPooling2D(3, strides=2)(x)
  for stage, (filters, blocks) in enumerate(
      [((64, 64, 256), 3), ((128, 128, 512), 4), ((256, 256, 1024), 6),
       ((512, 512, 2048), 3)], start=2):
    for block in range(1, blocks + 1):
      strides = (1 if stage == 2 else 2) if block == 1 else 1
      x = _bottleneck(x, filters, stage, block, strides, project=block == 1,
                      squeeze=squeeze, eps=eps)
  if include_top:
    x = layers.AveragePooling2D(7, name='avg_pool')(x)
    x = layers.Flatten()(x)
    x = layers.Dense(classes, activation='softmax', name='classifier')(x)
  return keras.Model(inputs, x, name=name)


def resnet50(input_shape=(224, 224, 3), include_top=False, classes=8631) -> keras.Model:
  return _resnet(input_shape, include_top, classes, squeeze=False, name='vggface_resnet50')


def senet50(input_shape=(224, 224, 3), include_top=False, classes=8631) -> keras.Model:
  return _resnet(input_shape, include_top, classes, squeeze=True, name='vggface_senet50')


ARCHITECTURES = {'vgg16': vgg16, 'resnet50': resnet50, 'senet50': senet50}
