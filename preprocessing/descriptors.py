"""What the model saw, in numbers: the descriptors of each face crop, which ingest stores in
every tf.Example and ``palsy-tfx predict`` writes beside every graded frame.

``palsy-tfx monitor`` compares the two, the training split's against the graded inputs',
to tell when the videos coming in no longer look like those the model learned from (a
darker room, a camera further away, a blurred lens). So both sides must compute them
alike: ``of_frame`` is the one function, called by ingest (``components.video_ingest.
extract.make_example``) and by predict (``pipeline.predict.grade``) on the same
``face_frames.FaceFrame``, as the crop itself is made once (``faces.crop_face``).

Per frame with a face:

- ``face_size``: the face box's size relative to the frame, ``sqrt(box area / frame
  area)`` of the box clipped to the frame (the examples' ``face_box``): the side of a
  square as large as the box, over the side of one as large as the frame; 0.5 is a face
  as tall and wide as half the frame. Halves when the face looks half as large
  (the camera twice as far), whatever the frame's shape or resolution.
- ``face_score``: the face detector's score (dlib HOG, the examples' ``face_score``).
- ``brightness``: the mean grey level ``m`` of the crop, 0..255.
- ``contrast``: RMS contrast, the standard deviation of the grey levels over their mean,
  ``s / m`` (0 for a flat or black crop; 1 for a checkerboard of black and white).
- ``sharpness``: the variance of the Laplacian of the grey levels over their variance,
  ``var(L) / s²`` (0 for a flat crop, 64 for a one-pixel checkerboard; about 0.4 for the
  synthetic faces of the tests at 48 px, less for larger crops of the same face). ``L`` is
  OpenCV's 3x3 Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` (``cv2.Laplacian``,
  ``ksize=1``) of the grey levels 0..255 in float64, edges reflected
  (``BORDER_REFLECT_101``).

Contrast and sharpness are relative on purpose, so that each descriptor answers to one
cause: a darker room (every grey level scaled down, as less light does) moves
``brightness`` alone, where the plain standard deviation and Laplacian variance would fall
with it (by the factor and its square); flatter lighting moves ``contrast``, a lens out of
focus or a blurred recording ``sharpness``, a camera further away ``face_size``. On the
synthetic subjects of ``tests/test_monitor.py``, darker, blurred and more distant copies
each drift their own descriptor and no other (flatter lighting was not tried).

The crop is the stored JPEG, decoded: the very pixels the model is fed, at the crop size
of the model's crop record (``CropSettings.size``, the same for its training data and its
graded inputs). The grey level is OpenCV's luma (``0.299 R + 0.587 G + 0.114 B``).
``sharpness`` depends on that size (the same face cropped at 224 px has less detail per
pixel than at 64 px), so descriptors compare only between crops of one crop record.

The per-input descriptors (frames sampled, faces found, the top probability and the
predicted grade) are already fields of predict's output (``frames_sampled``,
``faces_found``, ``confidence``, ``grade``); ``INPUT_KEYS`` names them.
"""
import math
from typing import Dict, Optional

import cv2
import numpy as np

from preprocessing import contract

# The per-frame descriptors, in this order in tables and in predict's frames CSV. The
# names are the example contract's keys.
FRAME_KEYS = (contract.FACE_SIZE, contract.FACE_SCORE, contract.BRIGHTNESS, contract.CONTRAST,
              contract.SHARPNESS)
# The per-input ones, as predict's JSON names them (its ``Prediction.as_json``).
INPUT_KEYS = ('frames_sampled', 'faces_found', 'confidence', 'grade')


def gray(rgb: np.ndarray) -> np.ndarray:
  """Grey levels 0..255 (float64) of an RGB or grey uint8 image."""
  if rgb.ndim == 3:
    rgb = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
  return rgb.astype(np.float64)


def of_crop(rgb: np.ndarray) -> Dict[str, float]:
  """``brightness``, ``contrast`` and ``sharpness`` of a crop (RGB or grey, uint8)."""
  levels = gray(rgb)
  mean, variance = float(levels.mean()), float(levels.var())
  laplacian = cv2.Laplacian(levels, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT_101)
  return {contract.BRIGHTNESS: mean,
          contract.CONTRAST: math.sqrt(variance) / mean if mean > 0 else 0.0,
          contract.SHARPNESS: float(laplacian.var()) / variance if variance > 0 else 0.0}


def face_size(relative_box) -> float:
  """``sqrt(area)`` of a ``[ymin, xmin, ymax, xmax]`` box in 0..1 of the frame."""
  ymin, xmin, ymax, xmax = relative_box
  return math.sqrt(max(0.0, ymax - ymin) * max(0.0, xmax - xmin))


def decode(jpeg: bytes) -> np.ndarray:
  """A stored crop's RGB pixels; ValueError if the bytes are no image."""
  bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
  if bgr is None:
    raise ValueError('the crop is not a decodable image')
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def of_frame(found) -> Optional[Dict[str, float]]:
  """The descriptors (``FRAME_KEYS``) of a ``face_frames.FaceFrame``; None without a face."""
  if found.crop is None:
    return None
  return {contract.FACE_SIZE: face_size(found.relative_box()),
          contract.FACE_SCORE: float(found.crop.box.score),
          **of_crop(decode(found.crop.jpeg))}
