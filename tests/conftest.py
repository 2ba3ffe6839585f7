"""Shared fixtures: real faces from scikit-image and small generated media."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# pytest has parsed its arguments by now. TFX's runners let absl parse sys.argv, where
# pytest's '-v' reads as absl's --verbosity and swallows the next argument.
sys.argv = sys.argv[:1]


@pytest.fixture(scope='session')
def astronaut():
  import skimage.data
  return skimage.data.astronaut()


@pytest.fixture(scope='session')
def no_face_images():
  import skimage.data
  return {'coffee': skimage.data.coffee(), 'chelsea': skimage.data.chelsea()}


def subject_frames(grade: int, n: int, seed: int = 0, size=(200, 160)):
  """Frames of one synthetic subject (the astronaut with a droop), small and fast."""
  from pipeline.sample_data import Subject, render_frames
  return list(render_frames(Subject(f's{seed}', grade, 'meei', 'left', seed), n,
                            size=size, face_px=95.0))


@pytest.fixture
def frames_of():
  return subject_frames


def write_jpeg(path: str, rgb: np.ndarray) -> None:
  import cv2
  cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
