"""The loop that ingest and predict share: sampling, face finding and the crop."""
import numpy as np
import pytest

from preprocessing import face_frames, faces, frames
from preprocessing.crop_settings import CropSettings
from preprocessing.media_writer import write_video
from tests.conftest import subject_frames, write_jpeg

CROP = CropSettings(size=64)


def test_a_still_is_one_frame_with_the_one_crop(tmp_path, astronaut):
  path = str(tmp_path / 'a.png')
  write_jpeg(path, astronaut)
  [found] = face_frames.face_frames(path, 'image', fps=99, crop=CROP)
  rgb = frames.read_image(path)
  assert found.frame.timestamp_ms == 0 and found.frame.index == 0
  # Exactly what detecting and cropping the still by hand gives.
  assert found.crop == faces.crop_face(rgb, faces.detect_face(rgb), CROP)
  assert found.relative_box() == found.crop.box.relative(512, 512)


def test_a_still_without_a_face(tmp_path, no_face_images):
  path = str(tmp_path / 'coffee.png')
  write_jpeg(path, no_face_images['coffee'])
  [found] = face_frames.face_frames(path, 'image', fps=3, crop=CROP)
  assert found.crop is None and found.relative_box() is None
  assert face_frames.no_face_reason('image', 1) == 'no face found in the still'


def test_a_video_is_sampled_at_the_rate_given_and_tracked(tmp_path, no_face_images):
  path = str(tmp_path / 'v.mp4')
  coffee = np.ascontiguousarray(no_face_images['coffee'][:160, :200])
  # 2 s at 25 fps: the face, then from 1.2 s on no face.
  write_video(path, subject_frames(2, 30, seed=3) + [coffee] * 20, fps=25)
  finder = faces.FaceFinder(CROP.detect_width)
  got = list(face_frames.face_frames(path, 'video', fps=5, crop=CROP, finder=finder))
  stamps = [f.frame.timestamp_ms for f in got]
  assert [t // 200 for t in stamps] == list(range(10))  # one frame per 1/5 s
  assert [f.crop is not None for f in got] == [True] * 6 + [False] * 4
  assert finder.passes['track'] == 5  # the finder given is the one that ran
  assert face_frames.no_face_reason('video', 10) == 'no face found in any of 10 sampled frames'


def test_unreadable_media_raise_media_error(tmp_path):
  path = tmp_path / 'notes.mp4'
  path.write_text('clinic notes, not a video\n' * 20)
  with pytest.raises(frames.MediaError, match='cannot open'):
    list(face_frames.face_frames(str(path), 'video', fps=3, crop=CROP))
