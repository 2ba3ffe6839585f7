"""Frame sampling on real encoded videos of every awkward kind."""

import numpy as np
import pytest

from preprocessing import frames
from preprocessing.media_writer import write_video


def _video(tmp_path, name, n=30, fps=30, size=(64, 48), **kw):
  path = str(tmp_path / name)
  rng = np.random.default_rng(0)
  imgs = [rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]
  write_video(path, imgs, fps=fps, **kw)
  return path


def test_constant_rate_picks_one_frame_per_period(tmp_path):
  path = _video(tmp_path, 'c.mp4', n=60, fps=30)  # 2 s
  got = list(frames.sample_video(path, fps=6))
  stamps = [f.timestamp_ms for f in got]
  assert 11 <= len(got) <= 12
  assert stamps == sorted(stamps)
  # one frame per 1/6 s bucket, no bucket twice
  assert len({(s + 1) * 6 // 1000 for s in stamps}) == len(stamps)


def test_every_frame_when_rate_not_limited(tmp_path):
  path = _video(tmp_path, 'all.mp4', n=20, fps=10)
  assert len(list(frames.sample_video(path, fps=0, skip_nonref=False))) == 20


def test_variable_frame_rate_uses_timestamps(tmp_path):
  # 20 frames bunched in the first 0.2 s, then 10 frames spread over 2 s.
  stamps = [i * 0.01 for i in range(20)] + [0.2 + i * 0.2 for i in range(10)]
  path = _video(tmp_path, 'vfr.mkv', n=30, fps=30, timestamps_s=stamps)
  got = list(frames.sample_video(path, fps=5, skip_nonref=False))
  ms = [f.timestamp_ms for f in got]
  # A frame-count sampler would take 6 frames from the bunch; we take one per 0.2 s.
  assert sum(1 for t in ms if t < 200) == 1
  assert len(got) == 11
  assert all(b - a >= 190 for a, b in zip(ms, ms[1:]))


def test_rotation_metadata_is_applied(tmp_path):
  path = _video(tmp_path, 'rot.mp4', n=10, fps=10, size=(64, 48), rotation=90)
  first = next(frames.sample_video(path, fps=0))
  assert first.rgb.shape[:2] == (64, 48)  # portrait after rotation


def test_short_video_yields_its_first_frame(tmp_path):
  path = _video(tmp_path, 'short.mp4', n=3, fps=30)  # 0.1 s, shorter than 1/3 s
  got = list(frames.sample_video(path, fps=3))
  assert len(got) == 1 and got[0].timestamp_ms == 0


def test_odd_size_video(tmp_path):
  path = _video(tmp_path, 'odd.mkv', n=10, fps=10, size=(65, 47), codec='ffv1',
                pix_fmt='yuv444p')
  got = list(frames.sample_video(path, fps=5))
  assert got and got[0].rgb.shape == (47, 65, 3)


def test_grayscale_video_becomes_rgb(tmp_path):
  path = str(tmp_path / 'gray.mkv')
  imgs = [np.full((48, 64), 17 * i, np.uint8) for i in range(10)]
  write_video(path, imgs, fps=10, codec='ffv1', pix_fmt='gray')
  got = list(frames.sample_video(path, fps=0))
  assert got[3].rgb.shape == (48, 64, 3)
  assert np.all(got[3].rgb == 51)


def test_mjpeg_avi_uppercase_extension(tmp_path):
  path = _video(tmp_path, 'clip.AVI', n=20, fps=10, codec='mjpeg')
  assert frames.media_kind(path) == 'video'
  assert len(list(frames.sample_video(path, fps=5))) == 10  # 2 s at 5 fps


def test_truncated_video_keeps_early_frames_then_raises(tmp_path):
  path = _video(tmp_path, 'full.mkv', n=90, fps=30, size=(64, 48), codec='mjpeg')
  data = open(path, 'rb').read()
  cut = str(tmp_path / 'cut.mkv')
  with open(cut, 'wb') as f:
    f.write(data[:len(data) // 2])
  got = []
  with pytest.raises(frames.MediaError, match='truncated'):
    for frame in frames.sample_video(cut, fps=3):
      got.append(frame)
  assert got, 'frames before the cut must be kept'


@pytest.mark.parametrize('content,match', [(b'', 'cannot open|no decodable'),
                                           (b'this is not a video\n' * 50, 'cannot open')])
def test_non_videos_raise_media_error(tmp_path, content, match):
  path = str(tmp_path / 'fake.mp4')
  with open(path, 'wb') as f:
    f.write(content)
  with pytest.raises(frames.MediaError, match=match):
    list(frames.sample_video(path, fps=3))


def test_media_kind_refuses_other_extensions():
  assert frames.media_kind('a/b.JPEG') == 'image'
  with pytest.raises(frames.MediaError, match='unsupported extension'):
    frames.media_kind('a/b.gif')


def test_read_image_grayscale_png(tmp_path):
  import cv2
  path = str(tmp_path / 'g.png')
  cv2.imwrite(path, np.full((10, 12), 200, np.uint8))
  assert frames.read_image(path).shape == (10, 12, 3)
  bad = tmp_path / 'bad.jpg'
  bad.write_bytes(b'nope')
  with pytest.raises(frames.MediaError, match='not a decodable image'):
    frames.read_image(str(bad))
