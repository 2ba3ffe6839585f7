"""Map every label scale we meet onto the six House-Brackmann grades (ids 0-5).

Clinics, the MEEI set and public datasets each write grades differently; ingest
accepts all of them so a merged manifest needs no hand conversion. The one thing it
never guesses is the scale of a bare number: House-Brackmann runs 1-6 and our ids
0-5, so a wrong guess would shift every grade by one without any error.
"""
import re
from typing import Optional

GRADES = ('normal', 'near_normal', 'mild', 'moderate', 'severe', 'complete')
NUM_GRADES = len(GRADES)

HOUSE_BRACKMANN = ('I', 'II', 'III', 'IV', 'V', 'VI')  # the grades in clinicians' notation
_ROMAN = {numeral.lower(): grade for grade, numeral in enumerate(HOUSE_BRACKMANN)}
# What a bare number in the label column may be declared to mean: scale -> (first
# number, its description). 'hb' is House-Brackmann 1..6, 'id' our grade ids 0..5.
NUMERIC_SCALES = {'hb': (1, 'House-Brackmann 1-6'), 'id': (0, 'grade id 0-5')}


class UnknownLabelError(ValueError):
  """A label that matches none of the supported scales, or is out of its range."""


def _normalise(text: str) -> str:
  # 'NearNormal', 'near normal', 'near-normal' and 'near_normal' are one grade.
  text = re.sub(r'(?<=[a-z])(?=[A-Z])', '_', text.strip())
  return re.sub(r'[\s\-]+', '_', text).lower()


def check_numeric_scale(numeric: Optional[str]) -> None:
  """Refuse a scale name other than those of NUMERIC_SCALES (None: undeclared)."""
  if numeric is not None and numeric not in NUMERIC_SCALES:
    raise ValueError(f'numeric label scale must be one of {", ".join(NUMERIC_SCALES)}, '
                     f'got {numeric!r}')


def _from_number(label, number: str, scale: str) -> int:
  first, name = NUMERIC_SCALES[scale]
  grade = int(number) - first
  if not 0 <= grade < NUM_GRADES:
    raise UnknownLabelError(f'label {label!r} is out of range ({name})')
  return grade


def _ambiguous(number: str) -> str:
  explicit = f'HB-{number}' if 1 <= int(number) <= NUM_GRADES else f'HB-1..HB-{NUM_GRADES}'
  scales = ' or '.join(name for _, name in NUMERIC_SCALES.values())
  return (f'bare number {number!r} is ambiguous ({scales}): '
          f'pass --numeric-labels {"|".join(NUMERIC_SCALES)} or write {explicit}')


def grade_id(label, numeric: Optional[str] = None) -> int:
  """Return the grade id (0=normal .. 5=complete) for a label on any supported scale.

  Supported: House-Brackmann ``I``..``VI`` or ``1``..``6`` behind an ``HB``/``HB-``/
  ``House-Brackmann`` prefix, bare ``I``..``VI``, the grade names, and MEEI categories
  such as ``NearNormal``. A bare number is read on the ``numeric`` scale
  (see NUMERIC_SCALES); with none declared it is refused as ambiguous.
  """
  check_numeric_scale(numeric)
  text = _normalise(str(label))
  if text in GRADES:
    return GRADES.index(text)
  if re.fullmatch(r'[0-9]+', text):
    if numeric is None:
      raise UnknownLabelError(_ambiguous(text))
    return _from_number(label, text, numeric)
  prefixed = re.fullmatch(r'(?:house_?brackmann|hb)_?(\w+)', text)
  value = prefixed.group(1) if prefixed else text
  if prefixed and re.fullmatch(r'[0-9]+', value):
    return _from_number(label, value, 'hb')
  if value in _ROMAN:
    return _ROMAN[value]
  raise UnknownLabelError(
      f'unknown label {label!r}: expected House-Brackmann I-VI or HB-1..HB-6, one of '
      f'{", ".join(GRADES)} (MEEI spellings like NearNormal are accepted), or a bare '
      f'number with --numeric-labels')


def grade_name(grade: int) -> str:
  return GRADES[grade]
