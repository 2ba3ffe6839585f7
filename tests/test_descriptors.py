"""``preprocessing.descriptors`` against values computed by hand, and the claim that ingest
and predict record the same numbers for the same frame (one function, two callers)."""
import math

import numpy as np
import pytest

from components.video_ingest import extract
from components.video_ingest.work_list import Work
from pipeline.predict import grade
from preprocessing import contract, descriptors, face_frames, faces, frames
from preprocessing.crop_settings import CropRecord, CropSettings
from tests.conftest import write_jpeg
from tests.fake_grader import CyclingGrader


def test_a_flat_image_has_no_contrast_and_no_sharpness():
  for level in (0, 90, 255):
    seen = descriptors.of_crop(np.full((16, 16, 3), level, np.uint8))
    assert seen == {contract.BRIGHTNESS: level, contract.CONTRAST: 0.0,
                    contract.SHARPNESS: 0.0}


def test_a_one_pixel_checkerboard():
  """0 and 255 alternating: mean 127.5, std 127.5, so contrast 1. Every pixel's four
  neighbours are of the other colour (at the edges too: BORDER_REFLECT_101 mirrors about
  the edge pixel), so the Laplacian is -4 * 255 on white and +4 * 255 on black: mean 0,
  variance 1020², and 1020² / 127.5² = 64."""
  board = ((np.indices((8, 10)).sum(axis=0) % 2) * 255).astype(np.uint8)
  seen = descriptors.of_crop(board)
  assert seen[contract.BRIGHTNESS] == 127.5
  assert seen[contract.CONTRAST] == pytest.approx(1.0)
  assert seen[contract.SHARPNESS] == pytest.approx(64.0)
  # The grey level of RGB is the luma: a white square in red, green and blue alike.
  rgb = np.repeat(board[..., None], 3, axis=2)
  assert descriptors.of_crop(rgb) == pytest.approx(seen)


def test_one_bright_pixel():
  """A 5x5 image, 0 but 255 at the centre. By hand: mean 255/25 = 10.2; variance
  255²/25 - 10.2² = 2496.96. The Laplacian is -1020 at the centre and 255 at its four
  neighbours, 0 elsewhere: mean 0, variance (1020² + 4 * 255²) / 25 = 52020."""
  image = np.zeros((5, 5), np.uint8)
  image[2, 2] = 255
  seen = descriptors.of_crop(image)
  assert seen[contract.BRIGHTNESS] == pytest.approx(10.2)
  assert seen[contract.CONTRAST] == pytest.approx(math.sqrt(2496.96) / 10.2)
  assert seen[contract.SHARPNESS] == pytest.approx(52020 / 2496.96)


def test_darker_moves_brightness_alone_and_blur_lowers_sharpness(astronaut):
  """Scaling every grey level (less light) leaves the relative contrast and sharpness be;
  a blur lowers sharpness. Each descriptor answers to one cause."""
  import cv2  # pylint: disable=g-import-not-at-top
  face = astronaut[:220, 100:320]
  plain = descriptors.of_crop(face)
  darker = descriptors.of_crop(np.round(face * 0.5).astype(np.uint8))
  assert darker[contract.BRIGHTNESS] == pytest.approx(plain[contract.BRIGHTNESS] / 2, rel=0.01)
  assert darker[contract.CONTRAST] == pytest.approx(plain[contract.CONTRAST], rel=0.01)
  assert darker[contract.SHARPNESS] == pytest.approx(plain[contract.SHARPNESS], rel=0.05)
  blurred = descriptors.of_crop(cv2.GaussianBlur(face, (0, 0), 2.0))
  assert blurred[contract.SHARPNESS] < plain[contract.SHARPNESS] / 3


def test_face_size_is_the_root_of_the_box_area():
  assert descriptors.face_size([0.25, 0.25, 0.75, 0.75]) == pytest.approx(0.5)
  assert descriptors.face_size([0.0, 0.0, 1.0, 0.25]) == pytest.approx(0.5)
  assert descriptors.face_size([0.5, 0.5, 0.5, 0.9]) == 0.0


def test_a_frame_is_described_from_its_stored_crop(astronaut):
  rgb = np.ascontiguousarray(astronaut)
  box = faces.detect_face(rgb)
  crop = faces.crop_face(rgb, box, CropSettings(size=64))
  found = face_frames.FaceFrame(frames.Frame(0, 0, rgb), crop)
  seen = descriptors.of_frame(found)
  assert list(seen) == list(descriptors.FRAME_KEYS)
  h, w = rgb.shape[:2]
  area = (min(box.bottom, h) - max(box.top, 0)) * (min(box.right, w) - max(box.left, 0))
  assert seen[contract.FACE_SIZE] == pytest.approx(math.sqrt(area / (h * w)))
  assert seen[contract.FACE_SCORE] == box.score
  # The decoded JPEG, the pixels the model is fed, not the crop before encoding.
  assert descriptors.decode(crop.jpeg).shape == (64, 64, 3)
  assert {k: seen[k] for k in (contract.BRIGHTNESS, contract.CONTRAST, contract.SHARPNESS)} \
      == descriptors.of_crop(descriptors.decode(crop.jpeg))
  assert descriptors.of_frame(face_frames.FaceFrame(frames.Frame(0, 0, rgb), None)) is None


def test_ingest_and_predict_record_the_same_descriptors(tmp_path, astronaut):
  path = str(tmp_path / 'a.png')
  write_jpeg(path, astronaut)
  settings = CropSettings(size=64)
  [found] = face_frames.face_frames(path, 'image', fps=3, crop=settings)
  work = Work(row=2, path=path, kind='image', size=1, subject='s', video='v', split='train',
              grade=3, source='meei', side='left')
  example = extract.make_example(found, work).features.feature
  stored = {k: example[k].float_list.value[0] for k in descriptors.FRAME_KEYS}
  graded = grade.predict_file(path, CyclingGrader(), CropRecord(settings, {}, 3.0))
  [frame] = graded.frames
  # The example stores float32.
  assert frame.descriptors == pytest.approx(stored, rel=1e-6)
  assert graded.as_json()['frames'][0]['descriptors'] == frame.descriptors
