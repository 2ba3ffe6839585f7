"""Every choice that shapes a stored face crop, in one record that travels with the data.

Ingest writes it beside its examples (``CROP_SETTINGS_FILE``) and the Trainer copies it
into the model's ``assets.extra`` (``MODEL_INFO_FILE``, key ``crop_settings``), so
prediction crops exactly as training did. Kept free of heavy imports: the command line
reads its choices when answering ``--help``.
"""
import dataclasses
import json
import os
from typing import Dict, Optional

DEFAULT_IMAGE_SIZE = 224
DEFAULT_MARGIN = 0.25
DEFAULT_DETECT_WIDTH = 640
JPEG_QUALITY = 95
# 'none': a square around the detector's box. 'five_point': dlib's 5-point landmarks
# turn the face upright (eye line level) and scale it, as dlib.get_face_chip does.
ALIGNMENTS = ('none', 'five_point')
DEFAULT_ALIGNMENT = 'none'
# Frames sampled per second of video, by the manifest's source: MEEI-style clinic videos
# at 3 fps, YouTube-style (yfp) at 6; any other source at DEFAULT_FPS.
DEFAULT_SOURCE_FPS = {'meei': 3.0, 'yfp': 6.0}
DEFAULT_FPS = 3.0
CROP_SETTINGS_FILE = 'crop_settings.json'
# Files beside a SavedModel that TF Serving ignores: how the model was made, for
# prediction and people (the Pusher adds the model card there).
ASSETS_EXTRA = 'assets.extra'
# Where a SavedModel carries its metadata, the crop record among it, relative to the
# model's version directory.
MODEL_INFO_FILE = f'{ASSETS_EXTRA}/palsy_model.json'


@dataclasses.dataclass(frozen=True)
class CropSettings:
  size: int = DEFAULT_IMAGE_SIZE            # stored crop side, px
  margin: float = DEFAULT_MARGIN            # context per side, as a fraction of the face
  detect_width: int = DEFAULT_DETECT_WIDTH  # the fast detection pass's frame width
  alignment: str = DEFAULT_ALIGNMENT        # see ALIGNMENTS
  jpeg_quality: int = JPEG_QUALITY          # crops are stored, and served, as JPEG

  def __post_init__(self):
    if self.alignment not in ALIGNMENTS:
      raise ValueError(f'unknown alignment {self.alignment!r}; choose one of '
                       f'{", ".join(ALIGNMENTS)}')
    if self.size < 8 or self.margin < 0 or self.detect_width < 64:
      raise ValueError(f'crop settings out of range: {self}')


def to_json(crop: CropSettings, source_fps: Dict[str, float], default_fps: float) -> str:
  """The record: the crop, and the frame rates videos were sampled at per source."""
  return json.dumps({'crop': dataclasses.asdict(crop), 'source_fps': source_fps,
                     'default_fps': default_fps}, indent=2, sort_keys=True)



@dataclasses.dataclass(frozen=True)
class CropRecord:
  """What ``to_json`` wrote: how faces were cropped and how often videos were sampled."""
  crop: CropSettings
  source_fps: Dict[str, float]
  default_fps: float

  def fps(self, source: Optional[str]) -> float:
    """The sampling rate of a video from ``source``: its own rate, else the default."""
    return self.source_fps.get((source or '').lower(), self.default_fps)


def from_dict(record: dict) -> CropRecord:
  """The inverse of ``to_json`` (after ``json.loads``)."""
  return CropRecord(CropSettings(**record['crop']),
                    {k: float(v) for k, v in record['source_fps'].items()},
                    float(record['default_fps']))


class ModelInfoError(ValueError):
  """A model whose files do not say how to crop its faces; the message says why."""


def model_info_path(path: str) -> str:
  """``palsy_model.json`` of a model version directory, or ``path`` itself when it
  names that file."""
  return path if os.path.isfile(path) else os.path.join(path, MODEL_INFO_FILE)


def read_model_info(path: str) -> dict:
  """A model's ``palsy_model.json``, from its version directory or the file itself;
  ``ModelInfoError`` when missing or not JSON."""
  info_path = model_info_path(path)
  try:
    with open(info_path) as f:
      return json.load(f)
  except FileNotFoundError as e:
    raise ModelInfoError(f'{info_path} not found: give a pushed model version directory '
                         f'(it holds {MODEL_INFO_FILE}) or that file') from e
  except ValueError as e:
    raise ModelInfoError(f'{info_path} is not JSON: {e}') from e


def from_model(path: str) -> CropRecord:
  """The crop record a model was trained with, from its version directory or its
  ``palsy_model.json``. Raises ``ModelInfoError`` rather than guess: a crop that
  differs from training's silently skews every grade."""
  return from_info(read_model_info(path), model_info_path(path))


def from_info(info: dict, info_path: str) -> CropRecord:
  """``from_model`` on a ``palsy_model.json`` already read from ``info_path``."""
  if not info.get('crop_settings'):
    raise ModelInfoError(f'{info_path} does not record how the faces were cropped '
                         '(crop_settings): the model predates that record; retrain it '
                         'with a fresh ingest')
  try:
    return from_dict(info['crop_settings'])
  except (KeyError, TypeError, ValueError) as e:
    raise ModelInfoError(f'{info_path}: unreadable crop_settings: {e!r}') from e
