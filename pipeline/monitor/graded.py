"""Read what was graded: predict's ``--output-json`` (a list of inputs), an archive grading's
JSON lines (one input per line, the same contract plus its manifest ``row``), or a folder
of either, into the rows whose statistics the monitor compares.

The contract is ``pipeline.predict.grade.Prediction.as_json`` (docs/predict-and-serve.md):
each frame with a face carries its ``descriptors``, each input its ``frames_sampled``,
``faces_found``, ``confidence`` and ``grade``. Only inputs that were graded count: the
frames of an input that was not never reached the model.

Inputs are named by row and pseudonym, never by path: a path often carries a patient's
name, and the monitor's page is meant to be shared. The row is the manifest row when the
record has one (an archive grading), else the input's place in what was read (1, 2, ...).
The pseudonym is the record's ``video_id`` when it has one, else the path under the
pseudonym key (``PALSY_PSEUDONYM_KEY`` or ``PALSY_PSEUDONYM_KEY_FILE``, as ingest reads
it), so the same file has the same pseudonym on every page; without a key, under a random
key of this run, so that no pseudonym can be traced back to a guessed path.
"""
import dataclasses
import glob
import json
import os
import secrets
from typing import Dict, List, Optional

from components.video_ingest import pseudonyms
from preprocessing import descriptors

SUFFIXES = ('.json', '.jsonl')
_INPUT_FIELDS = ('frames', 'frames_sampled', 'faces_found', 'error')


class GradedInputError(ValueError):
  """Graded output that cannot be read; the message names the file."""


@dataclasses.dataclass
class GradedInput:
  row: int
  pseudonym: str
  frames_sampled: int
  faces_found: int
  confidence: float
  grade: str
  frames: List[Dict[str, float]]  # the descriptors of each frame with a face


@dataclasses.dataclass
class Graded:
  """The graded inputs read, and what else was there."""
  inputs: List[GradedInput]
  not_graded: int         # inputs with an error: none of their frames is counted
  files: List[str]        # the files read, in order
  skipped: List[str]      # JSON files in the folder that hold no graded input (a summary)
  stable_pseudonyms: bool  # False: no key was set, the pseudonyms hold for this run only

  def frame_rows(self) -> Dict[str, list]:
    """Column -> values over every frame with a face: the descriptors, and ``input``, the
    index into ``inputs`` of the frame's input."""
    columns = {key: [] for key in descriptors.FRAME_KEYS}
    columns['input'] = []
    for i, graded in enumerate(self.inputs):
      for frame in graded.frames:
        for key in descriptors.FRAME_KEYS:
          columns[key].append(frame[key])
        columns['input'].append(i)
    return columns

  def input_rows(self) -> Dict[str, list]:
    """Column -> values over the graded inputs (``descriptors.INPUT_KEYS``)."""
    return {key: [getattr(graded, key) for graded in self.inputs]
            for key in descriptors.INPUT_KEYS}

  @property
  def frames(self) -> int:
    return sum(len(graded.frames) for graded in self.inputs)


def _records(path: str) -> Optional[list]:
  """The input records of one file; None when it holds JSON but no input (a summary)."""
  try:
    with open(path) as f:
      text = f.read()
  except (OSError, UnicodeDecodeError) as e:
    raise GradedInputError(f'{path}: cannot read it: {getattr(e, "strerror", None) or e}') from e
  try:
    whole = json.loads(text)
  except json.JSONDecodeError:
    return _lines(text, path)
  if isinstance(whole, dict):
    # One object: one input, or (without frames) a summary beside the graded lines.
    return [whole] if 'frames' in whole else None
  if not isinstance(whole, list):
    raise GradedInputError(f"{path}: JSON but not predict's --output-json (a list of inputs)")
  return whole


def _lines(text: str, path: str) -> list:
  """JSON lines, one input per line (an archive grading)."""
  records = []
  for number, line in enumerate(text.splitlines(), 1):
    if line.strip():
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise GradedInputError(f'{path}: line {number} is not JSON ({e.msg}); expected '
                               "predict's --output-json or one JSON object per line") from e
  return records


def _check(record, path: str, number: int) -> None:
  where = f'{path}: input {number}'
  if not isinstance(record, dict) or any(k not in record for k in _INPUT_FIELDS):
    raise GradedInputError(f'{where} is not a graded input (predict --output-json\'s objects '
                           f'have {", ".join(_INPUT_FIELDS)})')
  if record['error'] is not None:
    return
  for frame in record['frames']:
    if frame.get('face_box') is None:
      continue
    seen = frame.get('descriptors')
    if not isinstance(seen, dict) or any(k not in seen for k in descriptors.FRAME_KEYS):
      raise GradedInputError(
          f'{where} has frames without descriptors ({", ".join(descriptors.FRAME_KEYS)}): '
          'it was graded by a palsy-tfx from before predict recorded them; grade it again')


def _files(path: str) -> List[str]:
  if os.path.isdir(path):
    found = sorted(p for p in glob.glob(os.path.join(path, '*'))
                   if p.endswith(SUFFIXES) and os.path.isfile(p))
    if not found:
      raise GradedInputError(f'{path}: no {" or ".join(SUFFIXES)} file of graded inputs in '
                             'this folder')
    return found
  if not os.path.exists(path):
    raise GradedInputError(f'{path}: no such file or folder')
  return [path]


def read(path: str, environ=os.environ) -> Graded:
  """Every graded input under ``path`` (a file, or the top level of a folder)."""
  key = pseudonyms.read_key(environ)
  stable = key is not None
  key = key or secrets.token_bytes(32)
  inputs, files, skipped, not_graded, number = [], [], [], 0, 0
  for name in _files(path):
    records = _records(name)
    if records is None:
      if name == path:
        raise GradedInputError(f'{path}: holds no graded input (an object without frames)')
      skipped.append(name)
      continue
    files.append(name)
    for record in records:
      number += 1
      _check(record, name, number)
      if record['error'] is not None:
        not_graded += 1
        continue
      row = record.get('row')
      inputs.append(GradedInput(
          row=row if isinstance(row, int) else number,
          pseudonym=record.get('video_id') or pseudonyms.video_id(key, str(record.get('path'))),
          frames_sampled=int(record['frames_sampled']), faces_found=int(record['faces_found']),
          confidence=float(record['confidence']), grade=str(record['grade']),
          frames=[frame['descriptors'] for frame in record['frames']
                  if frame.get('face_box') is not None]))
  if not files:
    raise GradedInputError(f'{path}: no file of graded inputs (only {", ".join(skipped)})')
  return Graded(inputs, not_graded, files, skipped, stable)
