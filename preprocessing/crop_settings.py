"""Every choice that shapes a stored face crop, in one record that travels with the data.

Ingest writes it beside its examples (``CROP_SETTINGS_FILE``) and the Trainer copies it
into the model's ``assets.extra``, so prediction crops exactly as training did. Kept free
of heavy imports: the command line reads its choices when answering ``--help``.
"""
import dataclasses
import json
from typing import Dict

DEFAULT_IMAGE_SIZE = 224
DEFAULT_MARGIN = 0.25
DEFAULT_DETECT_WIDTH = 640
JPEG_QUALITY = 95
# 'none': a square around the detector's box. 'five_point': dlib's 5-point landmarks
# turn the face upright (eye line level) and scale it, as dlib.get_face_chip does.
ALIGNMENTS = ('none', 'five_point')
DEFAULT_ALIGNMENT = 'none'
CROP_SETTINGS_FILE = 'crop_settings.json'


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

