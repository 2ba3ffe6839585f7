"""The mirror-asymmetry head on dlib's ResNet (trainer/asymmetry.py): zero for a
symmetric face and clearly not for a real one, blind to which side is affected, and
reachable from the preset and the command line."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from components.video_ingest import manifest
from pipeline.cli import main as cli
from preprocessing import image_ops
from tests import dlib_chips
from tests.conftest import subject_frames
from trainer import asymmetry, dlib_resnet, model, presets

# Plain pools, then asymmetry pools, of alevel2, alevel1 and alevel0.
FEATURES = 128 + 256 + 256


def _classifier(image_size=dlib_resnet.INPUT_SIZE, weights_path='', **overrides):
  preset = presets.resolve('dlib_resnet', {'head': 'asymmetry', **overrides})
  return model.build_classifier(preset, image_size, weights_path)


@pytest.fixture(scope='module')
def clf():
  return _classifier()


@pytest.fixture(scope='module')
def head_input(clf):
  """Normalised 150x150 faces -> the head's input: plain pools, then asymmetry pools."""
  return keras.Model(clf.input, clf.get_layer('mirror_asymmetry').output)


@pytest.fixture(scope='module')
def chip(astronaut):
  return dlib_chips.chips(astronaut)[0]


def _asymmetry(head_input, faces):
  """The mean asymmetry of each face (uint8 chips): the mean of its asymmetry maps."""
  x = image_ops.normalise(np.stack(faces).astype(np.float32), 'dlib')
  return head_input.predict(x, verbose=0)[:, FEATURES:].mean(axis=1)


def test_a_symmetric_face_has_no_asymmetry_a_real_one_has(head_input, chip):
  half = chip.shape[1] // 2
  left = np.concatenate([chip[:, :half], chip[:, :half][:, ::-1]], axis=1)
  right = np.concatenate([chip[:, half:][:, ::-1], chip[:, half:]], axis=1)
  real, *symmetric = _asymmetry(head_input, [chip, left, right])
  # Measured: 0.16 for the astronaut, 0 for both of its symmetric versions. Comparing with
  # the mirror's maps flipped back instead gives 0.84 and 0.85 (trainer/asymmetry.py).
  assert real > 0.1
  assert max(symmetric) < 1e-4 * real


def test_asymmetry_grows_with_the_demo_droop(head_input):
  # The demo subjects are the astronaut with a one-sided droop that grows with the grade.
  faces = [dlib_chips.chips(subject_frames(grade, 1, seed=grade)[0])[0] for grade in (0, 3, 5)]
  none, moderate, severe = _asymmetry(head_input, faces)
  assert none * 1.2 < moderate and moderate * 1.1 < severe  # measured 0.15, 0.20, 0.24


def test_a_mirrored_crop_gives_the_same_maps_features_and_grades(clf, head_input, chip,
                                                                astronaut):
  faces = np.stack([chip, dlib_chips.chips(dlib_chips.scaled_and_rotated(astronaut, 0.8, -25))[0]])
  x = image_ops.normalise(faces.astype(np.float32), 'dlib')
  mirrored = np.ascontiguousarray(x[:, :, ::-1])
  level_maps = clf.get_layer('dlib_resnet_maps')
  compare = clf.get_layer('mirror_asymmetry')
  mirror_batch = asymmetry.MirrorBatch()
  for a, b in zip(compare.differences(level_maps(mirror_batch(x))),
                  compare.differences(level_maps(mirror_batch(mirrored)))):
    assert np.abs(a.numpy()).mean() > 0.05
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5)
  features = head_input.predict(x, verbose=0)
  # Measured on CPU: identical. The margin is for kernels whose rounding depends on an
  # image's place in the batch.
  np.testing.assert_allclose(head_input.predict(mirrored, verbose=0), features, rtol=0,
                             atol=1e-5)
  np.testing.assert_allclose(clf.predict(mirrored, verbose=0), clf.predict(x, verbose=0),
                             rtol=0, atol=1e-6)


def test_forward_pass_on_a_batch_of_two_frozen_or_fine_tuned():
  clf = _classifier(224)
  assert clf.get_layer('mirror_asymmetry').output.shape == (None, 2 * FEATURES)
  assert not clf.get_layer('dlib_resnet_maps').trainable_weights
  x = np.random.default_rng(2).normal(size=(2, 224, 224, 3)).astype(np.float32)
  probabilities = clf(x, training=False).numpy()
  assert probabilities.shape == (2, 6)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
  # Augmented training batches have no static height and width.
  traced = tf.function(lambda x: clf(x, training=False),
                       input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
  np.testing.assert_allclose(traced(x).numpy(), probabilities, atol=1e-6)

  # The maps model shares the feature model's layers: --trainable-layers counts as for
  # the plain head (19: the last two residual blocks).
  tuned = _classifier(150, 'none', trainable_layers=19)
  names = {w.path.split('/')[0] for w in tuned.get_layer('dlib_resnet_maps').trainable_weights}
  assert names == {f'{block}_{half}_conv' for block in ('alevel1_3', 'alevel0_1')
                   for half in ('a', 'b')}


def test_head_is_a_preset_field_checked_at_once(monkeypatch, capsys):
  assert presets.resolve('dlib_resnet', {}).head == 'plain'
  assert presets.resolve('dlib_resnet', {'head': 'asymmetry'}).head == 'asymmetry'
  with pytest.raises(ValueError, match="reads dlib_resnet's level maps; backbone 'vggface_vgg16'"):
    presets.resolve('fp_vggface', {'head': 'asymmetry'})
  with pytest.raises(ValueError, match="unknown head 'mirror'; choose one of plain, asymmetry"):
    presets.resolve('dlib_resnet', {'head': 'mirror'})

  base = ['run', '--manifest', 'm.csv', '--pipeline-root', 'r']
  args = cli.build_parser().parse_args(base + ['--model', 'dlib_resnet', '--head', 'asymmetry'])
  assert args.head == 'asymmetry'
  # The wrong backbone is refused before the manifest is read, let alone ingested.
  monkeypatch.setattr(manifest, 'fingerprint',
                      lambda path: pytest.fail('read the manifest before checking the preset'))
  assert cli._run(cli.build_parser().parse_args(base + ['--head', 'asymmetry'])) == 2
  assert "error: head 'asymmetry' reads dlib_resnet's level maps" in capsys.readouterr().err
