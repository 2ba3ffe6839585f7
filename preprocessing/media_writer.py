"""Write RGB frames as a video file with PyAV, for the sample data, tests and benchmarks."""
from typing import Iterable, Optional

import av
import numpy as np


def write_video(path: str, frames: Iterable[np.ndarray], fps: float = 30.0,
                codec: str = 'libx264', pix_fmt: Optional[str] = None,
                timestamps_s: Optional[Iterable[float]] = None,
                rotation: int = 0, options: Optional[dict] = None) -> None:
  """Encode ``frames`` (HxWx3 uint8 RGB or HxW gray) to ``path``.

  ``timestamps_s`` gives explicit presentation times (variable frame rate);
  ``rotation`` stores display-rotation metadata instead of rotating pixels.
  """
  frames = iter(frames)
  first = next(frames)
  time_base = 1000  # milliseconds: fine enough for any VFR pattern we generate
  with av.open(path, 'w') as container:
    stream = container.add_stream(codec, rate=int(round(fps)))
    stream.width, stream.height = first.shape[1], first.shape[0]
    stream.pix_fmt = pix_fmt or ('yuv420p' if codec in ('libx264', 'mpeg4') else
                                 'yuvj420p' if codec == 'mjpeg' else 'yuv420p')
    stream.options = dict(options or {})
    if codec == 'libx264':
      stream.options.setdefault('preset', 'veryfast')
    if timestamps_s is not None:
      from fractions import Fraction  # pylint: disable=g-import-not-at-top
      stream.codec_context.time_base = Fraction(1, time_base)
      stamps = iter(timestamps_s)
    if rotation:
      stream.set_display_rotation(rotation)
    fmt = 'gray' if first.ndim == 2 else 'rgb24'
    for i, img in enumerate(_chain(first, frames)):
      frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format=fmt)
      if timestamps_s is not None:
        frame.pts = int(round(next(stamps) * time_base))
        frame.time_base = stream.codec_context.time_base
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def _chain(first, rest):
  yield first
  yield from rest
