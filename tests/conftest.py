"""Shared fixtures: real faces from scikit-image and small generated media."""
import os
import sys

import numpy as np
import PIL.Image
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# pytest has parsed its arguments by now. TFX's runners let absl parse sys.argv, where
# pytest's '-v' reads as absl's --verbosity and swallows the next argument.
sys.argv = sys.argv[:1]

# The tests' pseudonym key. Ingest refuses to run without a key on anything but the
# sample data, and most tests ingest manifests of their own; they get this key the way a
# user's run does, from the environment (components/video_ingest/pseudonyms.py).
# tests/test_pseudonyms.py removes it to prove the refusal.
TEST_KEY = 'palsy-tfx tests key: synthetic faces of nobody, 0123456789'


@pytest.fixture(scope='session', autouse=True)
def pseudonym_key():
  """Every test runs with TEST_KEY in PALSY_PSEUDONYM_KEY, and without a key file that
  the shell running pytest might name. Session-scoped, so that module-scoped fixtures
  that ingest see it too."""
  from components.video_ingest import pseudonyms  # pylint: disable=g-import-not-at-top
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv(pseudonyms.KEY_ENV, TEST_KEY)
    patch.delenv(pseudonyms.KEY_FILE_ENV, raising=False)
    yield TEST_KEY.encode()


@pytest.fixture(scope='session')
def astronaut():
  import skimage.data
  return skimage.data.astronaut()


@pytest.fixture(scope='session')
def no_face_images():
  import skimage.data
  return {'coffee': skimage.data.coffee(), 'chelsea': skimage.data.chelsea()}


@pytest.fixture(scope='session')
def unseen_faces():
  """Real faces of people the demo data never shows, as RGB face crops of any size:
  Grace Hopper (a public-domain US Navy portrait that matplotlib ships as sample data),
  cropped by the one crop path, and five faces of scikit-image's LFW subset (25 px
  grey crops of Labeled Faces in the Wild)."""
  import matplotlib.cbook
  import skimage.data
  from preprocessing import faces
  with matplotlib.cbook.get_sample_data('grace_hopper.jpg') as f:
    hopper = np.asarray(PIL.Image.open(f).convert('RGB'))
  box = faces.detect_face(hopper)
  assert box is not None, 'dlib finds no face in grace_hopper.jpg'
  crop, _ = faces.square_crop(hopper, box)
  lfw = skimage.data.lfw_subset()[:5]  # the subset's first 100 images are faces
  return {'grace_hopper': crop, **{
      f'lfw_{i}': np.repeat((np.clip(face, 0, 1) * 255).round().astype(np.uint8)[..., None],
                            3, axis=2) for i, face in enumerate(lfw)}}


def subject_frames(grade: int, n: int, seed: int = 0, size=(200, 160)):
  """Frames of one synthetic subject (the astronaut with a droop), small and fast."""
  from pipeline.demo.sample_data import Subject, render_frames
  return list(render_frames(Subject(f's{seed}', grade, 'meei', 'left', seed), n,
                            size=size, face_px=95.0))


@pytest.fixture
def frames_of():
  return subject_frames


def write_jpeg(path: str, rgb: np.ndarray) -> None:
  import cv2
  cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
