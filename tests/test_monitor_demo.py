"""``scripts/monitor_demo.py``'s own steps on real media: the darkened copies are what its
"drift on brightness" verdict rests on, so a copy must be the same picture with its grey
levels times 0.6, for a still and for a video, and its manifest must keep the rows' labels.
(The whole walk needs a finished demo run; docs/monitor.md records one.)"""
import importlib.util
import os

import numpy as np

from preprocessing import frames
from preprocessing.media_writer import write_video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script():
  spec = importlib.util.spec_from_file_location(
      'monitor_demo', os.path.join(ROOT, 'scripts', 'monitor_demo.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _picture():
  y, x = np.mgrid[0:96, 0:128]
  return np.stack([60 + x, 80 + y, np.full_like(x, 200)], axis=-1).astype(np.uint8)


def _video_means(path):
  return [frame.rgb.mean() for frame in frames.sample_video(path, fps=0)]


def test_darkened_copies_keep_the_picture_at_six_tenths_of_its_grey_levels(tmp_path):
  demo = _script()
  picture = _picture()
  import cv2  # pylint: disable=g-import-not-at-top
  cv2.imwrite(str(tmp_path / 'a.png'), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
  write_video(str(tmp_path / 'a.mp4'), [picture] * 5, fps=5)
  demo.darken(str(tmp_path / 'a.png'), str(tmp_path / 'dark.png'))
  dark = frames.read_image(str(tmp_path / 'dark.png'))
  assert np.abs(dark.astype(float) - (picture * demo.DARKER).astype(np.uint8)).max() <= 1
  demo.darken(str(tmp_path / 'a.mp4'), str(tmp_path / 'dark.mp4'))
  before, after = _video_means(str(tmp_path / 'a.mp4')), _video_means(str(tmp_path / 'dark.mp4'))
  assert len(after) == len(before) == 5
  # H.264 moves grey levels by a few units; 0.6 against 1.0 is far outside that.
  np.testing.assert_allclose(np.array(after) / np.array(before), demo.DARKER, atol=0.03)


def test_the_copied_set_keeps_each_rows_label_subject_and_source(tmp_path):
  demo = _script()
  (tmp_path / 'data' / 'videos').mkdir(parents=True)
  (tmp_path / 'data' / 'videos' / 'v1.mp4').write_bytes(b'x')
  rows = [{'path': 'videos/v1.mp4', 'subject_id': 's1', 'label': 'mild', 'source': 'yfp'}]
  manifest = demo.copy_set(rows, str(tmp_path / 'data'), str(tmp_path / 'copy'))
  with open(manifest) as f:
    assert f.read() == 'path,subject_id,label,source\nv1.mp4,s1,mild,yfp\n'
  assert (tmp_path / 'copy' / 'v1.mp4').read_bytes() == b'x'
