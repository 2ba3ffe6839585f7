"""Aligned face chips made by dlib itself, and dlib's own descriptors of them: the
reference that ``trainer.dlib_resnet`` is checked against."""
import functools
from typing import List

import cv2
import dlib
import numpy as np

from preprocessing import face_models
from trainer import dlib_resnet


@functools.lru_cache(maxsize=None)
def _dlib_models():
  return (dlib.get_frontal_face_detector(),
          dlib.shape_predictor(face_models.resolve(face_models.SHAPE_PREDICTOR_5,
                                                   face_models.SHAPE_PREDICTOR_5_SHA256)),
          dlib.face_recognition_model_v1(dlib_resnet.weights_file()))


def chips(image: np.ndarray) -> List[np.ndarray]:
  """One 150x150 chip per face that dlib finds in the RGB ``image``."""
  detector, predictor, _ = _dlib_models()
  return [dlib.get_face_chip(image, predictor(image, box), size=dlib_resnet.INPUT_SIZE)
          for box in detector(image, 1)]


def descriptors(face_chips: List[np.ndarray]) -> np.ndarray:
  """dlib's ``compute_face_descriptor`` of each chip, as a [n, 128] array."""
  model = _dlib_models()[2]
  return np.array([np.array(model.compute_face_descriptor(np.ascontiguousarray(c)))
                   for c in face_chips])


def scaled_and_rotated(image: np.ndarray, scale: float, degrees: float) -> np.ndarray:
  """``image`` zoomed by ``scale`` and turned by ``degrees`` about its centre."""
  h, w = image.shape[:2]
  matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
  return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
