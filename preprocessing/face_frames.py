"""Media file in, one face crop per sampled frame out: the loop that ingest and
prediction share.

Ingest (``components.video_ingest.extract``) and ``palsy-tfx predict`` both iterate
this generator, so a frame reaches the model through the same sampling (per-source rate
by timestamp, every still), the same face finder (its tracking state included) and the
same crop as the frames the model trained on. A second copy of this loop is where
training/serving skew would creep in.
"""
import dataclasses
from typing import Iterator, Optional, Tuple

from preprocessing import faces, frames
from preprocessing.crop_settings import CropSettings


# Seconds of a segment's lead-in that its face finder sees first: with the tracking
# window snapped (``faces._track_window``), a second of frames brings two trackers to
# the same box (measured on tests/test_segments.py's clips: they agree from the first).
TRACK_WARMUP_S = 1.0


@dataclasses.dataclass(frozen=True)
class FaceFrame:
  frame: frames.Frame
  crop: Optional[faces.FaceCrop]  # None: no face found in this frame

  def relative_box(self) -> Optional[list]:
    """The face box as ``[ymin, xmin, ymax, xmax]`` in 0..1 of the frame, as stored in
    the examples' ``face_box``."""
    if self.crop is None:
      return None
    h, w = self.frame.rgb.shape[:2]
    return self.crop.box.relative(w, h)


def face_frames(path: str, kind: str, fps: float, crop: CropSettings,
                threaded: bool = True,
                finder: Optional[faces.FaceFinder] = None,
                span: Tuple[float, Optional[float]] = (0.0, None)) -> Iterator[FaceFrame]:
  """Yield every sampled frame of ``path`` with its face crop (or None).

  ``kind`` is ``frames.media_kind(path)``: a still is one frame at time 0, a video is
  sampled at ``fps``. ``threaded`` decodes ahead in a thread (see
  ``frames.sample_video``). ``finder`` may be passed to read its pass counts afterwards;
  it must be new, since it tracks the face from frame to frame. ``span`` limits a video
  to the frames timed in ``[start, end)`` (one segment; ``frames.sample_video``); the
  finder first sees the frames sampled in the ``TRACK_WARMUP_S`` before ``start``, so
  its boxes are those of reading the whole file, and they are not yielded. Raises
  ``frames.MediaError`` for unreadable media, after the frames read before the break.
  """
  finder = finder or faces.FaceFinder(crop.detect_width)
  if kind == 'image':
    sampled = iter([frames.Frame(0, 0, frames.read_image(path))])
  else:
    sampled = frames.sample_video(path, fps, threaded=threaded, start_s=span[0],
                                  end_s=span[1], warmup_s=TRACK_WARMUP_S)
  for frame in sampled:
    box = finder.find(frame.rgb)
    if frame.warmup:
      continue
    yield FaceFrame(frame, None if box is None else faces.crop_face(frame.rgb, box, crop))


def no_face_reason(kind: str, sampled: int) -> str:
  """Why a file gave nothing to grade or train on, in the words both commands print."""
  if kind == 'image':
    return 'no face found in the still'
  return f'no face found in any of {sampled} sampled frames'
