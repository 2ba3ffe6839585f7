"""The Grad-CAM strip: which frames it shows, how a heatmap is laid over a crop, the PNG,
and one video of a demo CNN's export through ``explain_video``."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipeline.predict import explain, saved_model
from trainer import export, model, presets


def _jpeg(rgb: np.ndarray) -> bytes:
  return tf.io.encode_jpeg(rgb, quality=100).numpy()


def test_frames_are_spread_evenly_from_first_to_last():
  assert explain.choose_frames(10, 6) == [0, 2, 4, 5, 7, 9]
  assert explain.choose_frames(3, 6) == [0, 1, 2]
  assert explain.choose_frames(0, 6) == []


def test_the_heatmap_colours_only_where_it_is_hot_and_is_resized_to_the_crop():
  crop = np.full((64, 64, 3), 120, np.uint8)
  heatmap = np.zeros((32, 32), np.float32)
  heatmap[:, 16:] = 1  # the right half, at the model's size
  out = explain.overlay(crop, heatmap)
  assert out.shape == crop.shape and out.dtype == np.uint8
  assert np.array_equal(out[:, :30], crop[:, :30])        # cold: the crop itself
  hot = out[:, 34:].reshape(-1, 3)
  assert (np.abs(hot.astype(int) - 120).max(axis=1) > 40).all()  # hot: coloured
  assert np.array_equal(explain.overlay(crop, np.zeros((8, 8))), crop)


def test_the_strip_has_one_panel_per_crop(tmp_path):
  crops = [_jpeg(np.full((48, 48, 3), v, np.uint8)) for v in (40, 120, 200)]
  heatmaps = np.zeros((3, 32, 32), np.float32)
  path = str(tmp_path / 'strip.png')
  explain.write_strip(path, crops, heatmaps, ['mild\n0.00 s', 'mild\n0.33 s', 'severe\n0.67 s'],
                      title='video v1: mild')
  with open(path, 'rb') as f:
    image = Image.open(io.BytesIO(f.read()))
  assert image.format == 'PNG'
  assert image.width == 3 * explain.PANEL_INCHES * 100
  with pytest.raises(ValueError, match='as many crops, heatmaps and labels'):
    explain.write_strip(path, crops, heatmaps[:2], ['a', 'b', 'c'])


def test_a_video_is_explained_by_the_served_model(tmp_path, astronaut):
  preset = presets.resolve('demo', {})
  classifier = model.build_classifier(preset, 32, '')
  export.export(classifier, str(tmp_path / 'model'), 32, preset.normalisation, {})
  loaded = tf.saved_model.load(str(tmp_path / 'model'))
  grader = saved_model.SavedModelGrader(str(tmp_path / 'model'), explain=True)
  face = astronaut[30:230, 120:320]
  crops = [_jpeg(np.roll(face, shift, axis=1)) for shift in range(0, 40, 4)]  # 10 frames
  seconds = [i / 3 for i in range(10)]
  path = str(tmp_path / 'v1.png')
  result = explain.explain_video(grader, crops, seconds, path, title='v1')
  chosen = [crops[i] for i in explain.choose_frames(10)]
  served = loaded.signatures['serving_images'](images=tf.constant(chosen))
  assert result.grades == [g.decode() for g in served['grade'].numpy()]
  np.testing.assert_allclose(result.probabilities, served['probabilities'].numpy(), atol=1e-6)
  assert result.heatmaps.shape == (6, 32, 32)
  assert Image.open(path).width == 6 * explain.PANEL_INCHES * 100


def test_a_stem_met_again_gets_a_number_not_the_same_strip():
  assert explain.strip_paths(['a/v.mp4', 'b/v.mp4', 'v.png', 'w.mov', 'a/v.mp4'], 'out') == [
      'out/v.png', 'out/v-2.png', 'out/v-3.png', 'out/w.png', 'out/v-4.png']
