"""Sample frames from a video at a target rate, decoding only what is needed.

Clinic videos are 1080p at 30 fps while we want 3-6 fps, so most frames are never
looked at. We pick frames by presentation timestamp (which handles variable frame
rate), ask the decoder to skip non-reference frames when the sampling period spans
several source frames, and convert to RGB only the frames we keep: colour conversion
of a 1080p frame costs more than decoding it.
"""
import contextlib
import dataclasses
import os
import queue
import threading
from typing import Iterator, Optional, Tuple

import av
import numpy as np

from preprocessing import storage, transient

VIDEO_EXTENSIONS = ('.mp4', '.mov', '.avi', '.mkv')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


class MediaError(RuntimeError):
  """A media file that cannot be read; the message says why."""


@dataclasses.dataclass(frozen=True)
class Frame:
  index: int            # frame number, from timestamp x average rate (0-based)
  timestamp_ms: int     # presentation time from the start of the stream
  rgb: np.ndarray       # HxWx3 uint8, upright (rotation metadata applied)
  warmup: bool = False  # sampled before the segment's start, only to warm a tracker


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
  """Apply display rotation (degrees counter-clockwise, as FFmpeg reports it)."""
  turns = int(round(rotation / 90.0)) % 4
  return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def _stream_rotation(stream) -> int:
  tag = stream.metadata.get('rotate')  # legacy tag written by old phones
  return -int(tag) if tag and tag.lstrip('-').isdigit() else 0


def sample_video(path: str, fps: float, skip_nonref: bool = True,
                 threaded: bool = True, start_s: float = 0.0,
                 end_s: Optional[float] = None, warmup_s: float = 0.0) -> Iterator[Frame]:
  """Yield upright RGB frames of ``path`` at about ``fps`` frames per second.

  The first frame at or after each multiple of ``1/fps`` seconds is taken, so a video
  shorter than one period still yields its first frame. ``fps <= 0`` yields every frame.
  Raises ``MediaError`` for a file that cannot be opened or has no video stream; a
  stream that breaks part-way raises after the frames decoded so far were yielded.

  ``start_s`` and ``end_s`` keep the frames timed in ``[start_s, end_s)``: one segment
  of a long video, which ingest spreads over workers. The decoder seeks to a keyframe
  at least ``PREROLL_S`` before ``start_s`` and decodes the frames before it only to
  know where they fall, so a frame is taken by the same rule (``_takes``) as when the
  whole file is read: the segments of a video give exactly its frames. The frames the
  rule takes in the ``warmup_s`` before ``start_s`` come first, marked ``warmup``: a face
  tracker that sees them finds the boxes that reading the file in one go finds.

  ``threaded`` lets FFmpeg decode with several threads and a background thread decode
  a few frames ahead, so decoding overlaps the caller's face detection (FFmpeg and
  dlib both release the GIL). Turn it off when one process per core already runs,
  as Beam workers do, where extra threads only contend.
  """
  span = (start_s, end_s, warmup_s)
  if not threaded:
    yield from _decode(path, fps, skip_nonref, threaded=False, span=span)
    return
  buffer = queue.Queue(maxsize=_PREFETCH)
  stop = threading.Event()

  def put(item) -> bool:
    while not stop.is_set():
      try:
        buffer.put(item, timeout=0.05)
        return True
      except queue.Full:
        continue
    return False

  def produce():
    try:
      for frame in _decode(path, fps, skip_nonref, threaded=True, span=span):
        if not put(frame):
          return
      put(_END)
    except BaseException as e:  # pylint: disable=broad-except
      put(e)  # re-raised in the consumer, after the frames before it

  worker = threading.Thread(target=produce, name=f'decode:{path}', daemon=True)
  worker.start()
  try:
    while True:
      item = buffer.get()
      if item is _END:
        return
      if isinstance(item, BaseException):
        raise item
      yield item
  finally:
    stop.set()
    worker.join()


_END = object()
_PREFETCH = 4  # frames decoded ahead: enough to hide decode jitter, little memory
# Seconds decoded before a segment's start, so its first frame has the predecessor that
# the sampling rule looks at (source frames are far less than a second apart).
PREROLL_S = 1.0


@dataclasses.dataclass(frozen=True)
class MediaInfo:
  """What a video's container says about it, read without decoding a frame."""
  duration_s: Optional[float]
  width: int
  height: int
  frames: int  # as the header counts them; 0 when it does not say


def probe(path: str) -> MediaInfo:
  """The container's duration, frame size and frame count: what the media limits and
  the segment plan need, before any decoding. Raises MediaError as decoding would."""
  with contextlib.ExitStack() as stack:
    container = _open_video(path, stack)
    if not container.streams.video:
      raise MediaError('no video stream')
    stream = container.streams.video[0]
    return MediaInfo(_duration(container, stream), stream.codec_context.width or 0,
                     stream.codec_context.height or 0, stream.frames or 0)


def _duration(container, stream) -> Optional[float]:
  if stream.duration and stream.time_base:
    return float(stream.duration * stream.time_base)
  if container.duration:
    return container.duration / av.time_base
  return None


def _takes(t: float, previous_t: Optional[float], period: float) -> bool:
  """Whether the frame at ``t`` is sampled: the first frame at or after a multiple of
  ``period``, i.e. one whose period differs from the previous decoded frame's. The
  frame before it is all the rule needs, so a segment that decodes from a keyframe
  before its start takes the frames that reading the whole file takes."""
  if previous_t is None or not period:
    return True
  return t + 1e-6 >= (int(previous_t / period + 1e-6) + 1) * period


def _open_video(path: str, stack: contextlib.ExitStack) -> av.container.InputContainer:
  """Open ``path`` for decoding, closed with ``stack``.

  A local path goes to FFmpeg as it is. A URI (``gs://``, ``s3://``) goes as Beam's
  read stream, which FFmpeg reads and seeks through Python (seeking to an mp4's index
  at the end), so nothing is copied to local disk first.
  """
  try:
    source = stack.enter_context(storage.open_binary(path)) if storage.is_remote(path) else path
    return stack.enter_context(av.open(source))
  except av.error.FFmpegError as e:
    # FFmpeg names a stream '<none>': name the URI as it names a local path.
    raise MediaError(f'cannot open video: [Errno {e.errno}] {e.strerror}: {path!r}') from e
  except (OSError, ValueError) as e:
    if transient.is_transient(e):
      raise  # retried by the caller; never a verdict on the file
    raise MediaError(f'cannot open video: {e}') from e


def _decode(path: str, fps: float, skip_nonref: bool, threaded: bool,
            span: Tuple[float, Optional[float], float] = (0.0, None, 0.0)
            ) -> Iterator[Frame]:
  """The decoding loop of ``sample_video`` (in a background thread when threaded)."""
  start_s, end_s, warmup_s = span
  first_s = max(0.0, start_s - warmup_s)
  with contextlib.ExitStack() as stack:
    container = _open_video(path, stack)
    if not container.streams.video:
      raise MediaError('no video stream')
    stream = container.streams.video[0]
    # Decoding ahead, FFmpeg gets every core but the one detecting faces: on 2 cores,
    # one decoder thread beat frame threading (measured 192 vs 171 frames/s at 720p).
    decoder_threads = max(1, (os.cpu_count() or 1) - 1) if threaded else 1
    stream.thread_type = 'AUTO' if decoder_threads > 1 else 'SLICE'
    stream.thread_count = decoder_threads
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    period = 1.0 / fps if fps > 0 else 0.0
    if skip_nonref and period and rate and rate * period >= 2.0:
      stream.codec_context.skip_frame = 'NONREF'
    legacy_rotation = _stream_rotation(stream)
    start = stream.start_time or 0
    if first_s > PREROLL_S and stream.time_base:
      container.seek(start + int((first_s - PREROLL_S) / stream.time_base),
                     backward=True, any_frame=False, stream=stream)
    previous_t = None
    decoded = 0
    t = 0.0
    try:
      for frame in container.decode(stream):
        decoded += 1
        if frame.pts is None:
          t = (decoded - 1) / rate if rate else 0.0
        else:
          t = float((frame.pts - start) * stream.time_base)
        if end_s is not None and t + 1e-6 >= end_s:
          return  # the next segment's frame
        taken = t + 1e-6 >= first_s and _takes(t, previous_t, period)
        previous_t = t
        if not taken:
          continue
        rotation = frame.rotation or legacy_rotation
        rgb = _upright(frame.to_ndarray(format='rgb24'), rotation)
        # Skipped non-reference frames make the decode count drift, so the index is
        # the frame number implied by the timestamp (exact for constant frame rate).
        index = int(round(t * rate)) if rate else decoded - 1
        yield Frame(index=index, timestamp_ms=int(round(t * 1000)), rgb=rgb,
                    warmup=t + 1e-6 < start_s)
    except av.error.FFmpegError as e:
      raise MediaError(f'video breaks after {decoded} decoded frames: {e}') from e
    if decoded == 0:
      if start_s:  # a segment after the point where a cut file ends
        raise MediaError(f'truncated video: no frame from {start_s:.2f}s on')
      raise MediaError('no decodable frames (truncated or not a video)')
    _check_complete(container, stream, last_t=t, rate=rate)


def _check_complete(container, stream, last_t: float, rate: float) -> None:
  """Raise if decoding stopped well before the duration the header promises.

  FFmpeg ends quietly on a truncated file, so without this check a cut video would
  silently lose its tail.
  """
  duration = _duration(container, stream)
  slack = max(0.5, 3.0 / rate) if rate else 0.5
  if duration and last_t + slack < duration:
    raise MediaError(
        f'truncated video: decoding stopped at {last_t:.2f}s of {duration:.2f}s')


def read_image(path: str) -> np.ndarray:
  """Read a still image as upright RGB uint8, honouring EXIF orientation."""
  import cv2  # pylint: disable=g-import-not-at-top
  if storage.is_remote(path):
    # An OSError here is the network's, not the file's (transient.is_transient):
    # it reaches the caller, which retries.
    data = np.frombuffer(storage.read_bytes(path), dtype=np.uint8)
  else:
    data = np.fromfile(path, dtype=np.uint8)
  if data.size == 0:
    raise MediaError('empty file')
  bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)  # also turns grayscale into 3 channels
  if bgr is None:
    raise MediaError('not a decodable image')
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def local_media_kind(path: str) -> str:
  """'video' or 'image' for a local file that exists, has a supported extension and is
  not empty; otherwise MediaError with the reason, in the words of ingest's checks.
  Cheap (no decoding), so ``palsy-tfx predict`` asks it before TensorFlow loads."""
  if not os.path.isfile(path):
    raise MediaError('file not found')
  kind = media_kind(path)
  if os.path.getsize(path) == 0:
    raise MediaError('zero-byte file')
  return kind


def media_kind(path: str) -> str:
  """Return 'video' or 'image' from the file extension, or raise MediaError."""
  lower = path.lower()
  if lower.endswith(VIDEO_EXTENSIONS):
    return 'video'
  if lower.endswith(IMAGE_EXTENSIONS):
    return 'image'
  raise MediaError(
      f'unsupported extension: expected one of '
      f'{" ".join(e[1:] for e in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS)}')
