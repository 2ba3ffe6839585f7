"""Before decoding: check a file against the media limits, and cut a long video into
segments that workers decode in parallel.

One element per file makes an hour-long 1080p recording one worker thread's job: the
job's straggler, restarted from zero when that worker is pre-empted. So a video longer
than a segment becomes several elements, each decoding its own span
(``frames.sample_video``'s ``start_s``/``end_s``). A segment starts a fresh face search,
so only the face boxes near its start can differ from reading the file in one go; the
sampled frames, their timestamps and indices are the same.

Media come from patients' phones and clinics' exports, so nothing is trusted: a file
over a limit (size from the listing; duration, frame size and frame count from the
container's header, ``frames.probe``) is a named failed input before FFmpeg decodes a
frame of it.
"""
import dataclasses
import json
from typing import Iterator, Optional

import apache_beam as beam

from components.video_ingest import progress, work_list
from components.video_ingest.limits import DEFAULT_SEGMENT_S, MediaLimits, spans
from preprocessing import frames, logs, transient
from preprocessing.labels import GRADES

def failed_stats(work: work_list.Work, reason: str) -> dict:
  """The stats of a file refused before decoding (``extract.merge_stats`` reads them)."""
  return {'row': work.row, 'video': work.video, 'kind': work.kind, 'subject': work.subject,
          'label': GRADES[work.grade], 'source': work.source,
          'faces_per_split': {work.split: 0} if work.split else {}, 'sampled': 0, 'faces': 0, 'no_face': 0,
          'padded_crops': 0, 'sure_passes': 0, 'failure': reason,
          'segment': 0, 'started': None, 'finished': None}


class PlanSegments(beam.DoFn):
  """A work item in; its segments out, or (tagged ``stats``) the reason it is refused.

  Probing reads the container's header, so a transient fault here is retried as a
  decode is (``transient.retry``), and a persistent one fails the run.
  """

  def __init__(self, limits: MediaLimits, segment_s: float = DEFAULT_SEGMENT_S,
               progress_dir: Optional[str] = None, stats_tag: str = 'stats'):
    if not segment_s > 0:
      raise ValueError(f'segment length must be positive, got {segment_s!r}')
    self._limits = limits
    self._segment_s = float(segment_s)
    self._progress_dir = progress_dir
    self._stats_tag = stats_tag
    self._tally = None

  def setup(self):
    logs.configure_libraries()
    self._tally = progress.Tally(self._progress_dir)

  def process(self, work: work_list.Work) -> Iterator[work_list.Work]:
    problem = self._limits.size_problem(work.size)
    plan = [(0.0, None)]
    if problem is None and work.kind == 'video':
      try:
        info = transient.retry(lambda: frames.probe(work.path),
                               f'row {work.row} (video {work.video})')
        problem = self._limits.video_problem(info)
        plan = spans(info.duration_s, self._segment_s)
      except frames.MediaError as e:
        problem = str(e).replace(work.path, f'<row {work.row}>')  # extract.without_path
    if problem is not None:
      self._tally.add(failed_stats(work, problem), fraction=1.0)
      yield beam.pvalue.TaggedOutput(self._stats_tag,
                                     (work.row, json.dumps(failed_stats(work, problem))))
      return
    for k, (start, end) in enumerate(plan):
      yield dataclasses.replace(work, start_s=start, end_s=end, segment=k,
                                segments=len(plan))

  def finish_bundle(self):
    self._tally.flush()
