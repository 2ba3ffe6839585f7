"""What rcmalli's published keras-vggface weight files hold: for each file, its weighted
layers by name, and each layer's weights (Keras 2 names and shapes), in file order.

Written out from rcmalli/keras-vggface's own source, not from ``trainer/vggface.py``, so
that the two can disagree:

* ``keras_vggface/models.py`` at commit 7521bda761370536f17321575d5116a760dd9b5b (the
  newest to touch it, 2022-12-16; its layer names are those of 23b3ccb, 2017-12-07, which
  added resnet50 and senet50): ``VGG16``, ``RESNET50`` with ``resnet_conv_block`` and
  ``resnet_identity_block``, ``SENET50`` with ``senet_conv_block``,
  ``senet_identity_block`` and ``senet_se_block``. The name patterns, filters, kernel
  sizes and ``use_bias`` below are theirs.
* ``keras_vggface/utils.py`` at commit ad78cf491a80b715a5e387f7f3d29de8274bfb9e: the
  release files' names (``*_WEIGHTS_PATH``, ``*_WEIGHTS_PATH_NO_TOP``, release v2.0) and
  their cache folder (``VGGFACE_DIR = 'models/vggface'``, under ``~/.keras``).

Keras 2's ``save_weights`` lays a file out as: the root's ``layer_names`` lists every
layer, weightless ones (``activation_1``, ``add_1``, ...) with empty ``weight_names``;
each weighted layer is a group whose ``weight_names`` are its variables' names in order,
``<layer>/kernel:0`` then ``<layer>/bias:0`` for a Conv2D or Dense, and ``gamma``,
``beta``, ``moving_mean``, ``moving_variance`` for a BatchNormalization. The shapes are
those of the models at rcmalli's default 224 x 224 input (only ``fc6`` depends on it).
rcmalli loads the vgg16 files by name but the resnet50 and senet50 ones in layer order
(``model.load_weights(weights_path)``), so for those two the names come from the model
definition that rcmalli's loader pairs them with; we load all three by name.
"""
from typing import Dict, List, Tuple

REPO = 'rcmalli/keras-vggface'
MODELS_COMMIT = '7521bda761370536f17321575d5116a760dd9b5b'
UTILS_COMMIT = 'ad78cf491a80b715a5e387f7f3d29de8274bfb9e'
INPUT_SIZE = 224
# utils.py: (architecture, include_top) -> the release file's name.
FILES = {
    ('vgg16', True): 'rcmalli_vggface_tf_vgg16.h5',
    ('vgg16', False): 'rcmalli_vggface_tf_notop_vgg16.h5',
    ('resnet50', True): 'rcmalli_vggface_tf_resnet50.h5',
    ('resnet50', False): 'rcmalli_vggface_tf_notop_resnet50.h5',
    ('senet50', True): 'rcmalli_vggface_tf_senet50.h5',
    ('senet50', False): 'rcmalli_vggface_tf_notop_senet50.h5',
}
CACHE_SUBDIR = 'models/vggface'
# models.py VGG16: blocks of (filters, convolutions), conv<block>_<i>, 3x3, with bias.
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
VGG16_CLASSES = 2622
# models.py RESNET50 and SENET50: (stage, [filters1, filters2, filters3], blocks); block 1
# of each stage is the conv block (with the 1x1_proj shortcut), the rest identity blocks.
RESNET_STAGES = ((2, (64, 64, 256), 3), (3, (128, 128, 512), 4), (4, (256, 256, 1024), 6),
                 (5, (512, 512, 2048), 3))
RESNET_CLASSES = 8631
SE_COMPRESS = 16  # senet_se_block's compress_rate

Layer = Tuple[str, List[Tuple[str, Tuple[int, ...]]]]  # (name, [(weight name, shape)])


def _conv(name: str, k: int, cin: int, cout: int, bias: bool) -> Layer:
  weights = [(f'{name}/kernel:0', (k, k, cin, cout))]
  return name, weights + ([(f'{name}/bias:0', (cout,))] if bias else [])


def _bn(name: str, channels: int) -> Layer:
  return name, [(f'{name}/{w}:0', (channels,))
                for w in ('gamma', 'beta', 'moving_mean', 'moving_variance')]


def _dense(name: str, cin: int, cout: int) -> Layer:
  return name, [(f'{name}/kernel:0', (cin, cout)), (f'{name}/bias:0', (cout,))]


def vgg16(include_top: bool) -> List[Layer]:
  out, channels = [], 3
  for block, (filters, convs) in enumerate(VGG16_BLOCKS, 1):
    for i in range(1, convs + 1):
      out.append(_conv(f'conv{block}_{i}', 3, channels, filters, bias=True))
      channels = filters
  if include_top:
    side = INPUT_SIZE // 2 ** len(VGG16_BLOCKS)  # five 2x2 pools: 7
    out += [_dense('fc6', side * side * channels, 4096), _dense('fc7', 4096, 4096),
            _dense('fc8', 4096, VGG16_CLASSES)]
  return out


def _resnet(include_top: bool, squeeze: bool) -> List[Layer]:
  out = [_conv('conv1/7x7_s2', 7, 3, 64, bias=False), _bn('conv1/7x7_s2/bn', 64)]
  channels = 64
  for stage, (f1, f2, f3), blocks in RESNET_STAGES:
    for block in range(1, blocks + 1):
      name = f'conv{stage}_{block}'
      out += [_conv(f'{name}_1x1_reduce', 1, channels, f1, bias=False),
              _bn(f'{name}_1x1_reduce/bn', f1),
              _conv(f'{name}_3x3', 3, f1, f2, bias=False), _bn(f'{name}_3x3/bn', f2),
              _conv(f'{name}_1x1_increase', 1, f2, f3, bias=False),
              _bn(f'{name}_1x1_increase/bn', f3)]
      if squeeze:  # senet_se_block(..., bias=True)
        out += [_conv(f'{name}_1x1_down', 1, f3, f3 // SE_COMPRESS, bias=True),
                _conv(f'{name}_1x1_up', 1, f3 // SE_COMPRESS, f3, bias=True)]
      if block == 1:
        out += [_conv(f'{name}_1x1_proj', 1, channels, f3, bias=False),
                _bn(f'{name}_1x1_proj/bn', f3)]
      channels = f3
  if include_top:
    out.append(_dense('classifier', channels, RESNET_CLASSES))
  return out


def resnet50(include_top: bool) -> List[Layer]:
  return _resnet(include_top, squeeze=False)


def senet50(include_top: bool) -> List[Layer]:
  return _resnet(include_top, squeeze=True)


ARCHITECTURES = {'vgg16': vgg16, 'resnet50': resnet50, 'senet50': senet50}
# A few of the weightless layers the files list too, named as Keras 2 numbered them; the
# loader must pass over them.
WEIGHTLESS = ('input_1', 'activation_1', 'max_pooling2d_1', 'add_1', 'avg_pool', 'flatten_1')


def shapes(layers: List[Layer]) -> Dict[str, List[Tuple[int, ...]]]:
  """{layer name: its weights' shapes}, what ``trainer.weights.match`` reads from a file."""
  return {name: [shape for _, shape in weights] for name, weights in layers}


def write(path: str, layers: List[Layer]) -> Dict[str, List[float]]:
  """An h5 file laid out as Keras 2 wrote rcmalli's, holding ``layers``; every weight a
  constant of its own (h5's fill value, so a 100 MB file takes no space or time).
  Returns {layer name: the constant of each of its weights}."""
  import h5py  # pylint: disable=g-import-not-at-top
  fills, count = {}, 0
  with h5py.File(path, 'w') as f:
    for name in WEIGHTLESS:
      f.create_group(name).attrs['weight_names'] = []
    for name, weights in layers:
      group = f.require_group(name)
      for weight_name, shape in weights:
        count += 1
        group.create_dataset(weight_name, shape=shape, dtype='float32',
                             fillvalue=float(count))
        fills.setdefault(name, []).append(float(count))
      group.attrs['weight_names'] = [w.encode() for w, _ in weights]
    f.attrs['layer_names'] = [name.encode() for name in WEIGHTLESS] + [
        name.encode() for name, _ in layers]
    f.attrs['backend'] = b'tensorflow'
    f.attrs['keras_version'] = b'2.1.2'
  return fills
