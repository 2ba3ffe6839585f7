"""Face detection, cropping and encoding on real images."""
import cv2
import numpy as np
import pytest

from preprocessing import faces
from tests import face_scenes


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
  finder = faces.FaceFinder(detect_width=512)
  fast = finder.find(big)
  full = faces.pick(faces.reference_faces(big))
  assert finder.passes['fast'] == 1 and finder.sure_runs == 0  # large faces stay cheap
  assert fast is not None and full is not None
  assert faces.iou(fast, full) > 0.6


@pytest.mark.parametrize('shift,found_by', [((4, -3), 'track'), ((12, -9), 'track'),
                                            ((90, 200), 'fast')])  # too far for the window
def test_tracking_follows_a_moved_face(astronaut, shift, found_by):
  finder = faces.FaceFinder()
  first = finder.find(astronaut)
  tracked = finder.find(np.roll(astronaut, shift, axis=(0, 1)))
  assert finder.passes[found_by] == 1 + (found_by == 'fast')
  assert abs((tracked.left - first.left) - shift[1]) < 10
  assert abs((tracked.top - first.top) - shift[0]) < 10


def test_tracking_stops_once_the_box_is_lost(astronaut, no_face_images):
  finder = faces.FaceFinder()
  finder.find(astronaut)
  assert finder.find(no_face_images['coffee'][:512, :512]) is None
  assert finder.find(astronaut) is not None
  # the lost box was not searched for again: the third frame was a full-frame search
  assert finder.passes == {'track': 0, 'fast': 2, 'sure': 0, 'small': 0, 'edge': 0, 'none': 1}


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


def test_square_crop_inside_the_frame_is_not_padded(astronaut):
  crop, padded = faces.square_crop(astronaut, faces.Box(200, 150, 300, 240, 1.0), margin=0.25)
  assert padded == 0.0
  assert np.array_equal(crop, astronaut[120:270, 175:325])  # side 150 around (250, 195)


def test_square_crop_pads_past_the_frame_instead_of_shrinking(astronaut):
  box = faces.Box(left=10, top=5, right=110, bottom=95, score=1.0)  # near the corner
  crop, padded = faces.square_crop(astronaut, box, margin=0.25)
  # side 100 * 1.5 = 150 centred on (60, 50): x -15..135, y -25..125
  assert crop.shape[:2] == (150, 150)
  assert np.array_equal(crop[25:, 15:], astronaut[0:125, 0:135])  # the face keeps its place
  assert np.array_equal(crop[:25, 15:], np.repeat(astronaut[:1, 0:135], 25, axis=0))
  assert padded == pytest.approx(1 - 125 * 135 / 150**2)
  huge = faces.Box(0, 0, 500, 400, 1.0)  # bigger than the 300-row frame: still 750 px
  crop, padded = faces.square_crop(astronaut[:300], huge, 0.25)
  assert crop.shape[:2] == (750, 750)
  assert padded == pytest.approx(1 - 300 * 512 / 750**2)


def test_crop_face_is_the_padded_crop_encoded(astronaut):
  box = faces.Box(10, 5, 110, 95, 1.0)
  crop = faces.crop_face(astronaut, box, faces.CropSettings(size=96, margin=0.25))
  pixels, padded = faces.square_crop(astronaut, box, 0.25)
  assert crop.jpeg == faces.encode_jpeg(pixels, 96) and crop.padded == padded > 0


def _turned(image, degrees, scale=1.0):
  h, w = image.shape[:2]
  turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
  return cv2.warpAffine(image, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)


def _dlib_chip(image, box, size, padding=0.25):
  import dlib  # pylint: disable=g-import-not-at-top
  rect = dlib.rectangle(*(int(round(v)) for v in (box.left, box.top, box.right, box.bottom)))
  shape = faces._landmark_model()(image, rect)  # pylint: disable=protected-access
  return dlib.get_face_chip(image, shape, size=size, padding=padding), shape


def _resized(rgb, size):
  return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize('degrees,scale', [(0, 1.0), (-20, 1.0), (25, 1.4), (12, 0.8)])
def test_aligned_crop_is_dlibs_face_chip(astronaut, degrees, scale):
  image = _turned(astronaut, degrees, scale)
  box = faces.detect_face(image)
  crop, padded = faces.aligned_crop(image, box, 0.25)
  reference, _ = _dlib_chip(image, box, 150)
  # The same square of the frame; only the resampling differs (dlib samples the chip
  # straight from the frame, we at the frame's resolution and then area-average).
  assert padded < 0.001  # (a pixel row may graze the frame edge)
  assert np.abs(_resized(crop, 150).astype(float) - reference).mean() < 3.0


def test_alignment_turns_a_tilted_face_upright(astronaut):
  upright = faces.detect_face(astronaut)
  plain, _ = faces.square_crop(astronaut, upright)
  aligned, _ = faces.aligned_crop(astronaut, upright)
  for degrees in (-25, 20):
    tilted = _turned(astronaut, degrees)
    box = faces.detect_face(tilted)
    tilted_plain, _ = faces.square_crop(tilted, box)
    tilted_aligned, _ = faces.aligned_crop(tilted, box)
    plain_gap = np.abs(_resized(tilted_plain, 96).astype(float) - _resized(plain, 96)).mean()
    aligned_gap = np.abs(_resized(tilted_aligned, 96).astype(float)
                         - _resized(aligned, 96)).mean()
    assert aligned_gap < 6 and plain_gap > 5 * aligned_gap, (degrees, plain_gap, aligned_gap)


def test_aligned_crop_past_the_frame_is_padded_by_replication(astronaut):
  import dlib  # pylint: disable=g-import-not-at-top
  image = np.ascontiguousarray(_turned(np.maximum(astronaut, 30), 20)[40:, 150:])  # a corner
  box = faces.detect_face(image)
  crop, padded = faces.aligned_crop(image, box, 0.6)
  # dlib's own chip of a white frame at the same size is black where the chip leaves the
  # frame: an independent count of the padded area.
  _, shape = _dlib_chip(image, box, 150)
  details = dlib.get_face_chip_details(shape, size=crop.shape[0], padding=0.6)
  outside = dlib.extract_image_chip(np.full_like(image, 255), details)[..., 0] < 128
  assert 0.05 < padded == pytest.approx(outside.mean(), abs=0.01)
  # Replicated, not black: no pixel of this frame is darker than 30, and neither is any
  # padded one (black padding would show zeros there).
  assert image.min() >= 30 and crop[outside].min() >= 30


def test_crop_face_follows_the_alignment_setting(astronaut):
  box = faces.detect_face(astronaut)
  settings = faces.CropSettings(size=96, alignment='five_point')
  pixels, padded = faces.aligned_crop(astronaut, box, settings.margin)
  crop = faces.crop_face(astronaut, box, settings)
  assert crop.jpeg == faces.encode_jpeg(pixels, 96) and crop.padded == padded
  assert crop.jpeg != faces.crop_face(astronaut, box, faces.CropSettings(size=96)).jpeg


@pytest.mark.parametrize('bad', [{'alignment': 'sixty_eight'}, {'size': 0}, {'margin': -0.1}])
def test_crop_settings_refuse_nonsense(bad):
  with pytest.raises(ValueError, match='alignment|out of range'):
    faces.CropSettings(**bad)


def test_encode_jpeg_to_requested_size(astronaut):
  data = faces.encode_jpeg(astronaut, size=96)
  assert data[:2] == b'\xff\xd8'
  assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (96, 96, 3)


def test_relative_box_is_ymin_xmin_ymax_xmax():
  box = faces.Box(left=10, top=20, right=30, bottom=60, score=0.5)
  assert box.relative(width=100, height=200) == [0.1, 0.1, 0.3, 0.3]


# --- Faces the full-resolution detector finds must be found (tests/face_scenes.py) ---

HD = {'720p': (1280, 720), '1080p': (1920, 1080)}


def _fast_pass_only(rgb, detect_width=faces.DEFAULT_DETECT_WIDTH):
  """The downscaled pass alone, as ingest ran before the sure pass existed."""
  gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
  return faces._detect_in(gray, detect_width / rgb.shape[1])


@pytest.mark.parametrize('name', HD)
@pytest.mark.parametrize('px,where', [(80, (0.2, 0.3)), (105, (0.7, 0.6)), (130, (0.5, 0.8))])
def test_small_faces_in_hd_frames_are_found(name, px, where):
  size = HD[name]
  frame = face_scenes.scene(size, [(where[0] * size[0], where[1] * size[1], px)])
  reference = faces.reference_faces(frame)
  assert len(reference) == 1
  lost_before = not _fast_pass_only(frame)
  assert lost_before or (px, name) == (130, '720p')  # 130 px is 65 px at 640 wide
  finder = faces.FaceFinder()
  found = finder.find(frame)
  assert found is not None and faces.iou(found, reference[0]) > 0.6
  assert finder.passes['sure' if lost_before else 'fast'] == 1


@pytest.mark.parametrize('name', HD)
def test_largest_of_several_small_faces(name):
  size = HD[name]
  w, h = size
  heads = [(w * (0.12 + 0.15 * k), h * (0.3 + 0.3 * (k % 2)), 100) for k in range(6)]
  heads[4] = (heads[4][0], heads[4][1], 125)  # the fifth is the largest
  frame = face_scenes.scene(size, heads)
  reference = faces.reference_faces(frame)
  assert len(reference) == 6
  found = faces.detect_face(frame)
  assert faces.iou(found, faces.pick(reference)) > 0.6
  assert abs((found.left + found.right) / 2 - heads[4][0]) < 20


@pytest.mark.parametrize('name', ['fills', 'cut_left', 'cut_bottom'])
def test_a_face_filling_or_cut_by_the_still_is_found(astronaut, name):
  still = {'fills': astronaut[55:205, 145:295], 'cut_left': astronaut[40:250, 200:400],
           'cut_bottom': astronaut[30:150, 110:330]}[name]
  big = cv2.resize(still, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # a close-up photo
  for image in (still, big):
    box = faces.detect_face(image)
    assert box is not None
    crop, padded = faces.square_crop(image, box)
    side = round(max(box.right - box.left, box.bottom - box.top) * 1.5)
    assert crop.shape[:2] == (side, side)  # never shrunk to fit: the chin stays in
    assert (padded > 0) == (name != 'fills')


def test_edge_pass_finds_a_face_the_full_frame_passes_miss():
  # A 640x480 close-up whose forehead is cut by the top edge: measured, neither the
  # fast nor the full-resolution pass finds it; the replicate-padded pass does.
  frame = face_scenes.scene((640, 480), [(320, 336, 600)])
  assert not faces.reference_faces(frame) and not _fast_pass_only(frame)
  finder = faces.FaceFinder()
  assert finder.find(frame) is not None and finder.passes['edge'] == 1
  assert finder.sure_runs == 1  # the full-resolution pass ran first, and found nothing


@pytest.mark.parametrize('name', HD)
def test_video_frames_with_a_face_match_full_resolution(name):
  # A small face that sways, leaves the picture for frames 8-10 and comes back.
  size = HD[name]
  clip = list(face_scenes.moving_scene(size, [(size[0] * 0.4, size[1] * 0.5, 95)],
                                       n_frames=16, fps=6, absent=(8, 9, 10)))
  finder = faces.FaceFinder()
  ours = [finder.find(f) for f in clip]
  reference = [faces.pick(faces.reference_faces(f)) for f in clip]
  assert [b is not None for b in ours] == [b is not None for b in reference]
  assert sum(b is not None for b in ours) == 13
  assert all(faces.iou(o, r) > 0.5 for o, r in zip(ours, reference) if r is not None)
  assert finder.passes['track'] >= 10  # after the first find, the cheap window does it
