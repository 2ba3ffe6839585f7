"""dlib's face-recognition ResNet in Keras: the .dat reader on known bytes, the descriptors
against dlib's own on real faces, the weight lookup, and the dlib_resnet preset."""
import dataclasses
import os
import struct

import numpy as np
import pytest
import tensorflow as tf

from preprocessing import face_models, image_ops
from tests import dlib_chips
from trainer import dlib_dat, dlib_resnet, export, model, presets, weights

# dlib computes in float32 too; the two only differ in summation order.
TOLERANCE = 1e-5


def test_reader_decodes_hand_written_bytes():
  r = dlib_dat.Reader(
      b'\x01\x00'              # 0
      b'\x01\x7f'              # 127
      b'\x02\x2c\x01'          # 300 = 0x012c, little-endian
      b'\x81\x05'              # -5: bit 7 of the control byte is the sign
      b'\x05\x00\x00\x00\x00\x01'  # 2**32
      b'\x01\x03\x81\x01'      # float 3 * 2**-1
      b'\x01\x05con_4'         # a string: its length, then its bytes
      b'1'                     # a bool
      b'\x01\x02' b'\x01\x02\x01\x01\x01\x01\x01\x01'  # tensor v2, 2x1x1x1
      + struct.pack('<2f', 1.0, -2.5)
      + b'\x01\x01\x01\x04\x01\x01\x01\x03\x01\x03')  # alias tensor v1, 4x1x3x3
  assert [r.int() for _ in range(5)] == [0, 127, 300, -5, 2**32]
  assert r.float() == 1.5
  assert r.string() == 'con_4'
  assert r.bool() is True
  tensor = r.tensor()
  assert tensor.shape == (2, 1, 1, 1) and tensor.dtype == np.float32
  assert tensor.reshape(-1).tolist() == [1.0, -2.5]
  assert r.alias() == (4, 1, 3, 3)
  assert r.pos == len(r.data)
  with pytest.raises(dlib_dat.DatFormatError, match='end of data'):
    r.int()
  with pytest.raises(dlib_dat.DatFormatError, match='control byte'):
    dlib_dat.Reader(b'\x00').int()


def _int(value: int) -> bytes:
  """dlib's pack_int, for building a network file by hand."""
  magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), 'little')
  return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


def _str(text: str) -> bytes:
  return _int(len(text)) + text.encode()


def _tensor(values) -> bytes:
  values = np.asarray(values, np.float32)
  return _int(2) + b''.join(_int(n) for n in values.shape) + values.astype('<f4').tobytes()


_ONE = _int(1) + _int(0)                                     # float 1 * 2**0
_EMPTY = _int(2) + _int(0) * 4                               # an empty tensor
_STATE = b'110' + _EMPTY * 3                                 # an add_layer's state


def test_reader_walks_a_hand_built_network():
  # loss_metric over fc_no_bias<2, tag1<con<1,1,1,1,1, input_rgb_image_sized<4>>>>:
  # wrappers outside in, then layer details from the input out.
  con = (_str('con_4') + _tensor(np.array([2.0, 3.0, 4.0, 0.5]).reshape(4, 1, 1, 1))
         + _int(1) + b''.join(_int(v) for v in (1, 1, 1, 1, 0, 0))
         + _int(1) + b''.join(_int(v) for v in (1, 3, 1, 1))  # filters alias
         + _int(1) + b''.join(_int(v) for v in (1, 1, 1, 1))  # biases alias
         + _ONE * 4)
  fc = (_str('fc_2') + _int(2) + _int(1) + _tensor(np.array([[5.0, 6.0]]).reshape(2, 1, 1, 1))
        + _int(1) + b''.join(_int(v) for v in (1, 2, 1, 1))
        + _int(1) + b''.join(_int(v) for v in (0, 0, 0, 0)) + _int(1) + _ONE * 4)
  data = (_int(1) + _str('loss_metric_2') + _ONE + _ONE
          + _int(2) + _int(1) + _int(3)                       # fc, tag1, input add_layer
          + _str('input_rgb_image_sized') + _ONE * 3 + _int(4) + _int(4)
          + con + _STATE + _int(1)                            # sample expansion factor
          + fc + _STATE)
  network = dlib_dat.read_network(data)
  assert network.loss == 'loss_metric_2'
  assert [layer.kind for layer in network.layers] == ['input_rgb_image_sized', 'con', 'fc']
  assert network.layers[0].params == {'mean_rgb': (1.0, 1.0, 1.0), 'size': (4, 4)}
  c = network.layers[1].params
  assert c['filters'].reshape(-1).tolist() == [2.0, 3.0, 4.0] and c['biases'].tolist() == [0.5]
  assert (c['strides'], c['padding']) == ((1, 1), (0, 0))
  assert network.layers[2].params['kernel'].tolist() == [[5.0, 6.0]]
  with pytest.raises(dlib_dat.DatFormatError, match='bytes left'):
    dlib_dat.read_network(data + b'\x00')
  with pytest.raises(dlib_dat.DatFormatError, match="unknown layer 'fc_9'"):
    dlib_dat.read_network(data.replace(b'fc_2', b'fc_9'))


@pytest.fixture(scope='module')
def face_chips(astronaut):
  """Distinct real faces: the astronaut zoomed and turned, and synthetic demo subjects."""
  images = [dlib_chips.scaled_and_rotated(astronaut, s, d)
            for s, d in ((1.0, 0), (0.6, 0), (1.4, 0), (1.0, 12), (0.8, -25))]
  from tests.conftest import subject_frames  # pylint: disable=g-import-not-at-top
  images += [subject_frames(grade, 1, seed=grade)[0] for grade in (0, 3, 5)]
  found = [chip for image in images for chip in dlib_chips.chips(image)]
  assert len(found) >= len(images)
  return np.stack(found + [chip[:, ::-1] for chip in found])  # and every one mirrored


@pytest.fixture(scope='module')
def reference(face_chips):
  return dlib_chips.descriptors(face_chips)


@pytest.fixture(scope='module')
def descriptor_model():
  return dlib_resnet.build_descriptor_model()


def test_descriptors_equal_dlibs_on_real_faces(face_chips, reference, descriptor_model):
  ours = descriptor_model.predict(face_chips.astype(np.float32), verbose=0)
  assert ours.shape == (len(face_chips), 128)
  assert np.abs(ours - reference).max() < TOLERANCE
  # Not a trivial agreement: the faces, and a face and its mirror, differ.
  n = len(face_chips) // 2
  assert np.linalg.norm(reference[:n] - reference[n:], axis=1).min() > 1e-3
  assert np.linalg.norm(reference[0] - reference[1:n], axis=1).min() > 1e-2


def _classifier(overrides, image_size, weights_path=''):
  preset = presets.resolve('dlib_resnet', overrides)
  return preset, model.build_classifier(preset, image_size, weights_path)


def test_preset_features_carry_dlibs_descriptor(face_chips, reference, descriptor_model):
  # The preset path (image_ops' 'dlib' normalisation, the feature model) is dlib's network:
  # its alevel0 pool through dlib's fc gives dlib's descriptor.
  _, clf = _classifier({}, dlib_resnet.INPUT_SIZE)
  backbone = clf.get_layer('dlib_resnet')
  features = backbone.predict(image_ops.normalise(face_chips.astype(np.float32), 'dlib'),
                              verbose=0)
  assert features.shape == (len(face_chips), 128 + 256 + 256)
  kernel = descriptor_model.get_layer('descriptor').get_weights()[0]
  assert np.abs(features[:, -256:] @ kernel - reference).max() < TOLERANCE


def test_preset_is_frozen_and_fine_tunes_only_the_last_layers_never_affine():
  preset, clf = _classifier({}, 224)
  assert dataclasses.astuple(preset)[:6] == ('dlib_resnet', 0, 'adam', 1e-3, 0.5, 'dlib')
  backbone = clf.get_layer('dlib_resnet')
  assert backbone.get_layer('resize_to_150').output.shape[1:3] == (150, 150)
  assert not backbone.trainable_weights
  head = [layer for layer in clf.layers[2:] if layer.weights]
  assert head and all(layer.trainable for layer in head)
  probabilities = clf(np.zeros((2, 224, 224, 3), np.float32), training=False)
  assert probabilities.shape == (2, 6)
  np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-5)

  # --trainable-layers 19: the last two residual blocks, alevel1_3 and alevel0_1.
  _, tuned = _classifier({'trainable_layers': 19}, 150, 'none')
  names = {w.path.split('/')[0] for w in tuned.get_layer('dlib_resnet').trainable_weights}
  assert names == {f'{block}_{half}_conv' for block in ('alevel1_3', 'alevel0_1')
                   for half in ('a', 'b')}
  affine = [layer for layer in tuned.get_layer('dlib_resnet').layers
            if isinstance(layer, dlib_resnet.Affine)]
  assert len(affine) == 29 and affine[-1].trainable and not affine[-1].trainable_weights


def test_preset_runs_on_batches_sized_only_at_run_time():
  # Augmented training batches have no static height and width (trainer/augment.py), so
  # the zero-padded residual sums must pad by run-time sizes.
  _, clf = _classifier({}, dlib_resnet.INPUT_SIZE, 'none')
  traced = tf.function(lambda x: clf(x, training=False),
                       input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
  x = np.random.default_rng(1).normal(size=(2, 150, 150, 3)).astype(np.float32)
  np.testing.assert_allclose(traced(x).numpy(), clf(x, training=False).numpy(), atol=1e-6)


def test_preset_without_the_package_says_what_to_install(monkeypatch):
  monkeypatch.setattr(face_models, 'models_dir', lambda: None)
  with pytest.raises(weights.WeightsNotFound, match='face-recognition-models==0.3.0'):
    model.build_backbone('dlib_resnet', 150, '')


@pytest.mark.slow
@pytest.mark.parametrize('head', presets.HEADS)
def test_preset_exports_with_both_serving_signatures(tmp_path, head):
  _, clf = _classifier({'head': head}, dlib_resnet.INPUT_SIZE)
  rng = np.random.default_rng(0)
  faces = [tf.io.encode_jpeg(rng.integers(0, 255, (150, 150, 3), dtype=np.uint8)).numpy()
           for _ in range(2)]
  expected = clf(image_ops.preprocess_bytes(tf.constant(faces), 150, 'dlib')).numpy()
  export.export(clf, str(tmp_path), 150, 'dlib', {'preset': 'dlib_resnet', 'head': head})
  loaded = tf.saved_model.load(str(tmp_path))
  examples = [tf.train.Example(features=tf.train.Features(feature={'image': tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[f]))})).SerializeToString() for f in faces]
  by_image = loaded.signatures['serving_images'](images=tf.constant(faces))
  by_example = loaded.signatures['serving_default'](examples=tf.constant(examples))
  np.testing.assert_allclose(by_image['probabilities'].numpy(), expected, atol=1e-6)
  np.testing.assert_array_equal(by_image['probabilities'].numpy(),
                                by_example['probabilities'].numpy())


def test_missing_package_says_what_to_install(monkeypatch):
  monkeypatch.setattr(face_models, 'models_dir', lambda: None)
  with pytest.raises(weights.WeightsNotFound) as err:
    dlib_resnet.build_descriptor_model()
  assert 'uv pip install face-recognition-models==0.3.0' in str(err.value)
  assert face_models.RESNET_FILE in str(err.value)
  with pytest.raises(weights.WeightsNotFound, match='does not exist'):
    dlib_resnet.weights_file('/nonexistent/dlib.dat')


def test_a_different_packaged_file_is_refused(tmp_path, monkeypatch):
  (tmp_path / face_models.RESNET_FILE).write_bytes(b'not the CC0 release')
  monkeypatch.setattr(face_models, 'models_dir', lambda: str(tmp_path))
  with pytest.raises(weights.WeightsMismatch) as err:
    dlib_resnet.weights_file()
  assert face_models.RESNET_SHA256 in str(err.value)
  assert 'face-recognition-models==0.3.0' in str(err.value)


def test_installed_package_has_the_released_file():
  path = dlib_resnet.weights_file()
  assert os.path.getsize(path) == 22_466_066
  assert path.startswith(face_models.models_dir())
