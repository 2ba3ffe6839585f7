"""Frames with real faces at chosen sizes and places: the scikit-image astronaut (a
public-domain photograph) pasted onto the coffee photograph (which has no face).

Used by the face tests and by ``bench/ingest.py`` for the small-face and several-face
HD videos that the full-resolution detector handles and a downscaled pass misses.
"""
import functools
import math
from typing import Iterator, Sequence, Tuple

import cv2
import numpy as np

# The astronaut's head with some context; dlib's box on it is about 90 px wide.
_HEAD = (slice(40, 250), slice(110, 330))
_HEAD_BOX_PX = 90.0


@functools.lru_cache(maxsize=None)
def _images():
  import skimage.data  # pylint: disable=g-import-not-at-top
  return skimage.data.astronaut()[_HEAD], skimage.data.coffee()


def scene(size: Tuple[int, int], heads: Sequence[Tuple[float, float, float]]) -> np.ndarray:
  """A ``size`` = (width, height) RGB frame with one astronaut head per
  ``(centre x, centre y, face px)``; heads that reach past the frame are cut by it."""
  head, background = _images()
  width, height = size
  frame = cv2.resize(background, (width, height), interpolation=cv2.INTER_AREA)
  for cx, cy, px in heads:
    scale = px / _HEAD_BOX_PX
    h, w = int(round(head.shape[0] * scale)), int(round(head.shape[1] * scale))
    pasted = cv2.resize(head, (w, h), interpolation=cv2.INTER_AREA)
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + w, width), min(y0 + h, height)
    if fx1 > fx0 and fy1 > fy0:
      frame[fy0:fy1, fx0:fx1] = pasted[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
  return frame


def moving_scene(size: Tuple[int, int], heads: Sequence[Tuple[float, float, float]],
                 n_frames: int, fps: float = 30.0, absent: Sequence[int] = ()
                 ) -> Iterator[np.ndarray]:
  """Frames of ``scene`` whose heads sway a little (about 10 px); frame numbers in
  ``absent`` show the background only, as when the patient leaves the picture."""
  for i in range(n_frames):
    t = i / fps
    moved = [(cx + 10 * math.sin(1.3 * t + k), cy + 6 * math.sin(0.9 * t + k), px)
             for k, (cx, cy, px) in enumerate(heads)]
    yield scene(size, [] if i in absent else moved)
