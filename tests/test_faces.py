"""Face detection, cropping and encoding on real images."""
import cv2
import numpy as np
import pytest

from preprocessing import faces


def test_finds_the_astronaut_face(astronaut):
  box = faces.detect_face(astronaut)
  assert box is not None
  # her face spans roughly x 175-265, y 80-170 in the 512x512 picture
  assert 160 < box.left < 200 and 250 < box.right < 285
  assert 60 < box.top < 100 and 150 < box.bottom < 190


@pytest.mark.parametrize('name', ['coffee', 'chelsea'])
def test_no_face_in_coffee_or_cat(no_face_images, name):
  assert faces.detect_face(no_face_images[name]) is None


def test_downscaled_detection_matches_full_resolution(astronaut):
  big = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)
  fast = faces.detect_face(big, detect_width=512)
  full = faces.pick(faces._detect_in(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY), 1.0))
  assert fast is not None and full is not None
  assert faces.iou(fast, full) > 0.6


@pytest.mark.parametrize('shift', [(4, -3), (12, -9), (-40, 60)])
def test_tracking_follows_a_moved_face(astronaut, shift):
  first = faces.detect_face(astronaut)
  moved = np.roll(astronaut, shift, axis=(0, 1))
  tracked = faces.detect_face(moved, near=first)
  assert tracked is not None
  assert abs((tracked.left - first.left) - shift[1]) < 10
  assert abs((tracked.top - first.top) - shift[0]) < 10


def test_largest_ignores_weak_false_positives():
  clear = faces.Box(0, 0, 80, 80, score=1.5)
  weak_big = faces.Box(100, 100, 200, 200, score=0.06)
  assert faces.pick([weak_big, clear]) == clear
  bigger_clear = faces.Box(100, 100, 200, 200, score=1.0)
  assert faces.pick([clear, bigger_clear]) == bigger_clear


def test_picks_the_largest_of_two_faces(astronaut):
  face = astronaut[40:250, 110:330]
  canvas = np.full((400, 700, 3), 230, np.uint8)
  canvas[50:260, 20:240] = face
  small = cv2.resize(face, (160, 153))
  canvas[100:253, 450:610] = small
  boxes = faces._detect_in(cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY), 1.0)
  assert len(boxes) == 2
  chosen = faces.detect_face(canvas, detect_width=700, policy='largest')
  assert chosen.left < 240  # the big one on the left
  confident = faces.detect_face(canvas, detect_width=700, policy='score')
  assert confident.score == max(b.score for b in boxes)


def test_square_crop_with_margin_is_clipped_to_frame(astronaut):
  box = faces.Box(left=10, top=5, right=110, bottom=95, score=1.0)  # near the corner
  crop = faces.square_crop(astronaut, box, margin=0.25)
  assert crop.shape[0] == crop.shape[1] == 150
  assert np.array_equal(crop, astronaut[0:150, 0:150])  # shifted back inside
  huge = faces.Box(0, 0, 500, 400, 1.0)
  assert faces.square_crop(astronaut[:300], huge, 0.5).shape[:2] == (300, 300)


def test_encode_jpeg_to_requested_size(astronaut):
  data = faces.encode_jpeg(astronaut, size=96)
  assert data[:2] == b'\xff\xd8'
  assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (96, 96, 3)


def test_relative_box_is_ymin_xmin_ymax_xmax():
  box = faces.Box(left=10, top=20, right=30, bottom=60, score=0.5)
  assert box.relative(width=100, height=200) == [0.1, 0.1, 0.3, 0.3]
