"""Find, crop and encode the face in a frame with dlib's HOG detector.

HOG cost grows with pixel count, so we detect on a copy downscaled to a fixed width
and map the box back to full resolution. In a video the face moves little between
sampled frames, so we first search a small window around the previous box and fall
back to the whole frame only when that fails: this is what makes 1080p ingest fast.
"""
import dataclasses
import threading
from typing import Optional, Sequence

import cv2
import numpy as np

DEFAULT_IMAGE_SIZE = 224
DEFAULT_MARGIN = 0.25
DEFAULT_DETECT_WIDTH = 640
JPEG_QUALITY = 95
# HOG finds faces down to ~80 px; scale windows so a tracked face is about this big.
_TRACK_FACE_PX = 90
# The tracking window reaches this many box sizes beyond the previous box's centre.
_TRACK_REACH = 0.8

_local = threading.local()


def _detector():
  """One detector per thread: dlib objects are neither picklable nor thread-safe."""
  if not hasattr(_local, 'detector'):
    import dlib  # pylint: disable=g-import-not-at-top
    _local.detector = dlib.get_frontal_face_detector()
  return _local.detector


@dataclasses.dataclass(frozen=True)
class Box:
  """A face box in full-resolution pixel coordinates."""
  left: float
  top: float
  right: float
  bottom: float
  score: float

  @property
  def area(self) -> float:
    return max(0.0, self.right - self.left) * max(0.0, self.bottom - self.top)

  def relative(self, width: int, height: int) -> list:
    """[ymin, xmin, ymax, xmax] in 0..1 of the frame, as tf.image boxes are."""
    return [max(0.0, self.top / height), max(0.0, self.left / width),
            min(1.0, self.bottom / height), min(1.0, self.right / width)]


def iou(a: Box, b: Box) -> float:
  ix = max(0.0, min(a.right, b.right) - max(a.left, b.left))
  iy = max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
  inter = ix * iy
  union = a.area + b.area - inter
  return inter / union if union > 0 else 0.0


def _gray(rgb: np.ndarray) -> np.ndarray:
  return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _detect_in(gray: np.ndarray, scale: float, offset=(0.0, 0.0),
               upsample: int = 0) -> list:
  """Detect on ``gray`` resized by ``scale``; return boxes in source coordinates."""
  if scale != 1.0:
    size = (max(1, int(round(gray.shape[1] * scale))),
            max(1, int(round(gray.shape[0] * scale))))
    gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
  rects, scores, _ = _detector().run(gray, upsample, 0.0)
  ox, oy = offset
  return [Box(r.left() / scale + ox, r.top() / scale + oy,
              r.right() / scale + ox, r.bottom() / scale + oy, float(s))
          for r, s in zip(rects, scores)]


def pick(boxes: Sequence[Box], policy: str = 'largest') -> Optional[Box]:
  """Choose one face: the largest (the patient nearest the camera) or most confident.

  'largest' considers only boxes scoring at least half the best score, so a large,
  weak false positive (a badge, a pattern on clothing) never beats a clear face.
  """
  if not boxes:
    return None
  if policy == 'score':
    return max(boxes, key=lambda b: b.score)
  best = max(b.score for b in boxes)
  return max((b for b in boxes if b.score >= 0.5 * best), key=lambda b: b.area)


def detect_face(rgb: np.ndarray, detect_width: int = DEFAULT_DETECT_WIDTH,
                policy: str = 'largest', near: Optional[Box] = None) -> Optional[Box]:
  """Return the chosen face in ``rgb`` (full-resolution coordinates) or None.

  ``near`` is the previous frame's box: we search a window of 1.6 box widths
  around it first, scaled so the face is ~90 px, and fall back to the full frame.
  """
  gray = _gray(rgb)
  h, w = gray.shape[:2]
  if near is not None:
    side = max(near.right - near.left, near.bottom - near.top)
    cx, cy = (near.left + near.right) / 2, (near.top + near.bottom) / 2
    reach = _TRACK_REACH * side
    x0, y0 = int(max(0, cx - reach)), int(max(0, cy - reach))
    x1, y1 = int(min(w, cx + reach)), int(min(h, cy + reach))
    scale = min(1.0, _TRACK_FACE_PX / max(side, 1.0))
    found = pick(_detect_in(gray[y0:y1, x0:x1], scale, (x0, y0)), policy)
    if found is not None:
      return found
  scale = min(1.0, detect_width / float(w))
  boxes = _detect_in(gray, scale)
  if not boxes and scale == 1.0 and max(h, w) < 400:
    boxes = _detect_in(gray, 1.0, upsample=1)  # small stills: faces under 80 px
  return pick(boxes, policy)


def square_crop(rgb: np.ndarray, box: Box, margin: float = DEFAULT_MARGIN) -> np.ndarray:
  """Square crop around ``box`` grown by ``margin`` per side, kept inside the frame.

  A crop that would leave the frame is shifted back in (and shrunk only when the
  frame itself is smaller), so the face is never padded with invented pixels.
  """
  h, w = rgb.shape[:2]
  side = max(box.right - box.left, box.bottom - box.top) * (1 + 2 * margin)
  side = int(round(min(side, h, w)))
  cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
  x0 = int(round(min(max(cx - side / 2, 0), w - side)))
  y0 = int(round(min(max(cy - side / 2, 0), h - side)))
  return rgb[y0:y0 + side, x0:x0 + side]


def encode_jpeg(rgb: np.ndarray, size: int = DEFAULT_IMAGE_SIZE) -> bytes:
  """Resize to size x size and JPEG-encode (quality 95)."""
  interp = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_LINEAR
  resized = cv2.resize(rgb, (size, size), interpolation=interp)
  ok, buf = cv2.imencode('.jpg', cv2.cvtColor(resized, cv2.COLOR_RGB2BGR),
                         [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
  if not ok:
    raise ValueError('JPEG encoding failed')
  return buf.tobytes()
