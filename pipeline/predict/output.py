"""What ``palsy-tfx predict`` writes: a table for people, JSON and CSV for tools, and
progress lines while it works.

The JSON is a contract (docs/predict-and-serve.md, "Output JSON and CSV"): a list with one object per
input, in the order given, ``Prediction.as_json``. Progress goes to stderr so that
stdout holds only the table.
"""
import csv
import json
import sys
import time
from typing import Callable, Optional, Sequence

from pipeline.predict.grade import Prediction
from preprocessing import descriptors
from preprocessing.crop_settings import CropRecord
from preprocessing.labels import GRADES, HOUSE_BRACKMANN

FRAME_COLUMNS = (['path', 'timestamp_ms', 'face_ymin', 'face_xmin', 'face_ymax', 'face_xmax']
                 + [f'p_{g}' for g in GRADES] + ['grade', 'ood_score']
                 + list(descriptors.FRAME_KEYS))


def write_json(predictions: Sequence[Prediction], path: str) -> None:
  with open(path, 'w') as f:
    json.dump([p.as_json() for p in predictions], f, indent=2)


def write_frames_csv(predictions: Sequence[Prediction], path: str) -> None:
  """One row per sampled frame; ``grade`` is that frame's most probable grade, and the
  descriptors (``preprocessing.descriptors.FRAME_KEYS``) close the row. A frame without a
  face (or of a file that was not graded) leaves the cells it lacks empty."""
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(FRAME_COLUMNS)
    for p in predictions:
      for frame in p.frames:
        box = frame.face_box or [''] * 4
        probs = frame.probabilities or [''] * len(GRADES)
        grade = (GRADES[probs.index(max(probs))] if frame.probabilities else '')
        ood = '' if frame.ood_score is None else frame.ood_score
        seen = [frame.descriptors[k] if frame.descriptors else ''
                for k in descriptors.FRAME_KEYS]
        writer.writerow([p.path, frame.timestamp_ms, *box, *probs, grade, ood, *seen])


def trust_cell(p: Prediction) -> str:
  """'ok', or 'REFER: ' and the reasons: whether to take the grade or see a clinician."""
  if p.trust is None:
    return '-'
  return 'REFER: ' + '; '.join(p.trust.refer_reasons) if p.trust.refer else 'ok'


def format_table(predictions: Sequence[Prediction]) -> str:
  """The grade, the mean probability of every grade, the confidence, the frame counts
  and whether to refer, one row per input; the reasons of the inputs that were not
  graded follow the table."""
  width = max([len('input')] + [len(p.path) for p in predictions])
  header = (f'{"input":{width}s}  {"grade":21s}'
            + ''.join(f'{numeral:>6s}' for numeral in HOUSE_BRACKMANN)
            + '   conf  frames  faces  no face  trust')
  lines = [header]
  for p in predictions:
    if p.error is None:
      grade = f'{p.grade} (HB {HOUSE_BRACKMANN[GRADES.index(p.grade)]})'
      probs = ''.join(f'{v:6.2f}' for v in p.probabilities) + f'{p.trust.confidence:7.2f}'
    else:
      grade, probs = 'NOT GRADED', ''.join(f'{"-":>6s}' for _ in GRADES) + f'{"-":>7s}'
    lines.append(f'{p.path:{width}s}  {grade:21s}{probs}  {p.frames_sampled:6d}  '
                 f'{p.faces_found:5d}  {p.frames_without_face:7d}  {trust_cell(p)}')
  failed = [p for p in predictions if p.error is not None]
  if failed:
    lines.append('not graded:')
    lines.extend(f'  {p.path}: {p.error}' for p in failed)
  graded = len(predictions) - len(failed)
  referred = sum(bool(p.trust and p.trust.refer) for p in predictions)
  lines.append(f'{graded} of {len(predictions)} inputs graded, {referred} of them to refer to '
               "a clinician; grade = the most probable grade of the mean of the frames' "
               'probabilities (columns: House-Brackmann I-VI), conf = its probability')
  return '\n'.join(lines)


def sampling_line(inputs: int, record: CropRecord, source: Optional[str]) -> str:
  """The video sampling rate in use and where it comes from: a wrong ``--source`` samples
  videos at another rate than the model's training data."""
  known = ', '.join(f'{s} {fps:g}' for s, fps in sorted(record.source_fps.items()))
  why = f'source {source}' if source else 'no --source: the default rate'
  return (f'[predict] {inputs} inputs; videos sampled at {record.fps(source):g} fps ({why}; '
          f"the model's rates: {known}, otherwise {record.default_fps:g})")


def _clock(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class Progress:
  """One line per finished input, and while a long input runs one line every
  ``interval`` seconds with its frames so far (stderr by default)."""

  def __init__(self, total: int, interval: float = 10.0,
               write: Optional[Callable[[str], None]] = None,
               clock: Callable[[], float] = time.monotonic):
    self._total = total
    self._interval = interval
    self._write = write or (lambda line: print(line, file=sys.stderr, flush=True))
    self._clock = clock
    self._started = self._last = clock()

  def _prefix(self, index: int, p: Prediction) -> str:
    return f'[predict] {index + 1}/{self._total} {p.path}'

  def frame(self, index: int, p: Prediction) -> None:
    now = self._clock()
    if now - self._last >= self._interval:
      self._last = now
      self._write(f'{self._prefix(index, p)}: {p.frames_sampled} frames sampled, '
                  f'{p.faces_found} faces so far, {_clock(now - self._started)} elapsed')

  def done(self, index: int, p: Prediction) -> None:
    self._last = now = self._clock()
    outcome = (f'grade {p.grade} ({p.trust.confidence:.2f}), {trust_cell(p)}'
               if p.error is None else f'NOT GRADED: {p.error}')
    self._write(f'{self._prefix(index, p)}: {p.frames_sampled} frames sampled, '
                f'{p.faces_found} faces, {outcome} [{_clock(now - self._started)} elapsed]')
