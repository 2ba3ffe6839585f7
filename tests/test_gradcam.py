"""Grad-CAM: on a hand-weighted model whose grade comes from one of two marks (the heatmap
lies on the mark that drove the grade, and moves when that mark is masked), and through
the exported ``serving_explain`` signature of the demo CNN and of dlib_resnet with both
heads (the crop's shape, values in [0, 1], the same probabilities and out-of-distribution
scores as ``serving_images``)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from preprocessing import image_ops
from preprocessing.labels import GRADES
from tests import marked_model
from trainer import export, gradcam, model, ood, presets


def _explain(classifier, images):
  cam, mirrored = gradcam.cam_model(classifier)
  logits, _, heatmaps = gradcam.explain(classifier.get_layer('probabilities'), cam, mirrored,
                                        tf.constant(np.stack(images)), marked_model.SIZE)
  return tf.nn.softmax(logits).numpy(), heatmaps.numpy()


@pytest.fixture(scope='module')
def marked():
  return marked_model.build()


def test_the_heatmap_lies_on_the_mark_that_drove_the_grade(marked):
  probabilities, heatmaps = _explain(marked, [marked_model.image()])
  assert GRADES[probabilities[0].argmax()] == 'complete'
  assert heatmaps.shape == (1, marked_model.SIZE, marked_model.SIZE)
  heat = heatmaps[0]
  assert heat[marked_model.RED].max() == 1.0 and heat[marked_model.RED].mean() > 0.8
  # Nothing beyond the red mark's 8x8-map cells and the 2 pixels that bilinear
  # upsampling spreads them by: not on the blue mark, which did not drive this grade.
  assert heat[10:, :].max() == 0 and heat[:, :22].max() == 0


def test_masking_the_mark_that_drove_the_grade_moves_the_heatmap(marked):
  _, before = _explain(marked, [marked_model.image()])
  probabilities, after = _explain(marked, [marked_model.image(red=False)])
  assert GRADES[probabilities[0].argmax()] == 'normal'
  red, blue = marked_model.RED, marked_model.BLUE
  assert before[0][red].mean() > 0.8 and after[0][red].max() == 0
  assert before[0][blue].max() == 0 and after[0][blue].mean() > 0.8


def test_no_region_drove_the_grade_gives_an_all_zero_heatmap_not_nan(marked):
  _, heatmaps = _explain(marked, [marked_model.image(red=False, blue=False)])
  assert np.all(heatmaps == 0)


def _faces(astronaut, size):
  """JPEG crops: the face, its mirror image, and the face with the mouth masked."""
  face = astronaut[30:230, 120:320]
  masked = face.copy()
  masked[120:170, 60:150] = 128
  return [tf.io.encode_jpeg(tf.image.resize(f, (size, size)).numpy().astype(np.uint8)
                            ).numpy() for f in (face, face[:, ::-1], masked)]


@pytest.mark.slow
@pytest.mark.parametrize('preset, overrides, size', [
    ('demo', {}, 32),
    ('dlib_resnet', {}, 150),
    ('dlib_resnet', {'head': 'asymmetry'}, 150)])
def test_the_explain_signature(tmp_path, astronaut, preset, overrides, size):
  keras.utils.set_random_seed(0)  # the head's weights: the mirror check has a margin of 0.04
  resolved = presets.resolve(preset, overrides)
  classifier = model.build_classifier(resolved, size, '')
  faces = tf.constant(_faces(astronaut, size))
  # A guard fitted on these faces' pooled features: serving_explain reads them from
  # Grad-CAM's own pass (for dlib_resnet's plain head, its level maps pooled in the open).
  features = model.scores_function(classifier)(
      image_ops.preprocess_bytes(faces, size, resolved.normalisation))[1].numpy()
  guard = ood.fit(np.concatenate([features, features + 0.01]), np.zeros(6, np.int64))
  export.export(classifier, str(tmp_path), size, resolved.normalisation, {}, guard=guard)
  loaded = tf.saved_model.load(str(tmp_path))
  assert set(loaded.signatures) == {'serving_default', 'serving_images', 'serving_explain'}
  served = loaded.signatures['serving_images'](images=faces)
  explained = loaded.signatures['serving_explain'](images=faces)
  np.testing.assert_allclose(explained['probabilities'].numpy(),
                             served['probabilities'].numpy(), atol=1e-6, rtol=0)
  np.testing.assert_allclose(explained['ood_score'].numpy(), served['ood_score'].numpy(),
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(served['ood_score'].numpy(), ood.score(guard, features),
                             rtol=1e-4, atol=1e-4)
  assert explained['grade'].numpy().tolist() == served['grade'].numpy().tolist()
  heatmaps = explained['heatmaps'].numpy()
  assert heatmaps.shape == (3, size, size) and heatmaps.dtype == np.float32
  assert np.isfinite(heatmaps).all() and heatmaps.min() >= 0
  assert heatmaps.max(axis=(1, 2)).tolist() == [1.0] * 3  # each scaled to its own peak
  assert not np.array_equal(heatmaps[0], heatmaps[2])  # masking the mouth changes it
  if overrides.get('head') == 'asymmetry':
    # The head reads a crop and its mirror alike, so a mirrored crop gets the mirrored
    # heatmap, but for dlib's grid, which is not quite its own mirror image.
    mirrored_back = heatmaps[1][:, ::-1]
    assert np.corrcoef(heatmaps[0].ravel(), mirrored_back.ravel())[0, 1] > 0.9
