"""The media limits and the segment plan: plain values, kept apart from Beam and
TensorFlow so that the command line declares their flags without loading either.
``segments`` applies them."""
import dataclasses
import json
import math
from typing import List, Optional

DEFAULT_SEGMENT_S = 60.0
DEFAULT_MAX_BYTES = 20 * 10 ** 9          # 20 GB
DEFAULT_MAX_DURATION_S = 3 * 3600.0       # 3 hours
DEFAULT_MAX_PIXELS = 7680 * 4320          # 8K UHD, either way up
DEFAULT_MAX_FRAMES = 3 * 3600 * 120       # 3 hours at 120 fps


@dataclasses.dataclass(frozen=True)
class MediaLimits:
  max_bytes: int = DEFAULT_MAX_BYTES
  max_duration_s: float = DEFAULT_MAX_DURATION_S
  max_pixels: int = DEFAULT_MAX_PIXELS
  max_frames: int = DEFAULT_MAX_FRAMES

  def __post_init__(self):
    for name, value in dataclasses.asdict(self).items():
      if not value > 0:
        raise ValueError(f'media limit {name} must be positive, got {value!r}')

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), sort_keys=True)

  @classmethod
  def from_json(cls, text: Optional[str]) -> 'MediaLimits':
    return cls(**json.loads(text)) if text else cls()

  def size_problem(self, size: int) -> Optional[str]:
    if size > self.max_bytes:
      return f'over the size limit: {size:,} bytes, limit {self.max_bytes:,}'
    return None

  def video_problem(self, info: 'frames.MediaInfo') -> Optional[str]:
    """Why the container's header puts the video over a limit, or None."""
    if info.duration_s and info.duration_s > self.max_duration_s:
      return (f'over the duration limit: {info.duration_s:.0f} s, '
              f'limit {self.max_duration_s:.0f} s')
    if info.width * info.height > self.max_pixels:
      return (f'over the resolution limit: {info.width}x{info.height}, limit '
              f'{self.max_pixels:,} pixels')
    if info.frames > self.max_frames:
      return f'over the frame-count limit: {info.frames:,} frames, limit {self.max_frames:,}'
    return None


def spans(duration_s: Optional[float], segment_s: float) -> List[tuple]:
  """``[start, end)`` spans of ``segment_s`` covering ``duration_s``; the last is open
  (end None), so frames past a header's duration are still read, as by one element."""
  if not duration_s or duration_s <= segment_s:
    return [(0.0, None)]
  n = math.ceil(duration_s / segment_s - 1e-9)
  return [(k * segment_s, (k + 1) * segment_s if k < n - 1 else None) for k in range(n)]
