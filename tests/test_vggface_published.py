"""The VGGFace loader against the layout of rcmalli's published weight files, as
rcmalli/keras-vggface's source defines them (``tests/vggface_published.py`` says which
files and commits), not against our own writer (``weights.save_rcmalli_layout``)."""
import numpy as np
import pytest

from tests import vggface_published as published
from trainer import vggface, weight_files, weights

CASES = [(arch, top) for arch in published.ARCHITECTURES for top in (False, True)]


def test_the_file_names_and_folder_are_rcmallis(tmp_path, monkeypatch):
  """The files' names, found in rcmalli's cache folder (~/.keras/models/vggface)."""
  assert weight_files.VGGFACE_FILES == published.FILES
  keras_home = tmp_path / '.keras'
  monkeypatch.setattr(weight_files, 'KERAS_CACHE', str(keras_home / 'models'))
  folder = keras_home / published.CACHE_SUBDIR
  folder.mkdir(parents=True)
  for arch in published.ARCHITECTURES:
    (folder / published.FILES[(arch, False)]).write_bytes(b'')
    assert weight_files.backbone_file(f'vggface_{arch}') == str(
        folder / published.FILES[(arch, False)])


def test_the_published_counts():
  """A check on the listing itself: 13 convolutions (+3 dense) for vgg16; for resnet50,
  one stem convolution and batch norm, 16 blocks of three of each and four
  projections (+ the classifier); senet50 adds two 1x1 convolutions per block."""
  counts = {(a, t): len(published.ARCHITECTURES[a](t)) for a, t in CASES}
  assert counts == {('vgg16', False): 13, ('vgg16', True): 16,
                    ('resnet50', False): 106, ('resnet50', True): 107,
                    ('senet50', False): 138, ('senet50', True): 139}


@pytest.mark.parametrize('arch,include_top', CASES)
def test_the_loader_maps_every_published_layer(arch, include_top):
  """Every weighted layer of the published file is a layer of our model with the same
  weight shapes, and our model has no weighted layer the file lacks."""
  layers = published.ARCHITECTURES[arch](include_top)
  size = published.INPUT_SIZE
  model = vggface.ARCHITECTURES[arch]((size, size, 3), include_top=include_top)
  mapped, problems = weights.match(model, published.shapes(layers))
  assert problems == []
  assert sorted(mapped) == sorted(name for name, _ in layers)


@pytest.mark.parametrize('arch', list(published.ARCHITECTURES))
def test_a_file_in_the_published_layout_loads_every_weight_in_place(tmp_path, arch):
  """A no-top file laid out as Keras 2 wrote rcmalli's (weightless layers listed, the
  weights' names nested under '/'), each weight a constant of its own: every weight of
  our model holds its own constant after loading. Also the with-top file's layers load
  into the no-top model, which ignores the top."""
  for include_top in (False, True):
    path = str(tmp_path / published.FILES[(arch, include_top)])
    fills = published.write(path, published.ARCHITECTURES[arch](include_top))
    model = vggface.ARCHITECTURES[arch]((64, 64, 3) if arch != 'vgg16' else (48, 48, 3))
    assert weights.load_by_name(model, path) == len(published.ARCHITECTURES[arch](False))
    for layer in model.layers:
      if layer.weights:
        constants = fills[vggface.h5_name(layer.name)]
        for weight, constant in zip(layer.get_weights(), constants):
          np.testing.assert_array_equal(weight, np.full(weight.shape, constant, np.float32))
