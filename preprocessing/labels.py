"""Map every label scale we meet onto the six House-Brackmann grades (ids 0-5).

Clinics, the MEEI set and public datasets each write grades differently; ingest
accepts all of them so a merged manifest needs no hand conversion.
"""
import re

GRADES = ('normal', 'near_normal', 'mild', 'moderate', 'severe', 'complete')
NUM_GRADES = len(GRADES)

HOUSE_BRACKMANN = ('I', 'II', 'III', 'IV', 'V', 'VI')  # the grades in clinicians' notation
_ROMAN = {numeral.lower(): grade for grade, numeral in enumerate(HOUSE_BRACKMANN)}


class UnknownLabelError(ValueError):
  """A label that matches none of the supported scales."""


def _normalise(text: str) -> str:
  # 'NearNormal', 'near normal', 'near-normal' and 'near_normal' are one grade.
  text = re.sub(r'(?<=[a-z])(?=[A-Z])', '_', text.strip())
  return re.sub(r'[\s\-]+', '_', text).lower()


def grade_id(label) -> int:
  """Return the grade id (0=normal .. 5=complete) for a label on any supported scale.

  Supported: House-Brackmann ``I``..``VI`` (optionally prefixed ``HB``/``HB-``),
  numeric ``0``..``5``, the grade names, and MEEI categories such as ``NearNormal``.
  """
  text = _normalise(str(label))
  if text in GRADES:
    return GRADES.index(text)
  if re.fullmatch(r'[0-5]', text):
    return int(text)
  roman = re.sub(r'^(house_?brackmann|hb)_?', '', text)
  if roman in _ROMAN:
    return _ROMAN[roman]
  raise UnknownLabelError(
      f'unknown label {label!r}: expected House-Brackmann I-VI, 0-5, or one of '
      f'{", ".join(GRADES)} (MEEI spellings like NearNormal are accepted)')


def grade_name(grade: int) -> str:
  return GRADES[grade]
