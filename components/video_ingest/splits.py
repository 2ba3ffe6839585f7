"""Subject-level, grade-stratified split assignment.

Splitting by subject (never by frame or file) keeps one person's frames out of both
train and test. Splitting within each grade keeps a small cohort from leaving a grade
out of the test split by chance, which would leave its recall undefined and the
model unblessable. The rule:

1. A subject's stratum is its House-Brackmann grade. A subject whose rows carry
   different grades (say, visits during recovery) takes its most frequent grade,
   ties going to the lower grade.
2. Within a grade, subjects are ordered by a hash point of the raw id: SHA-256 of
   ``'split:' + id`` read as a number in [0, 1). It ignores the pseudonym key
   (``pseudonyms``), so changing the key never reshuffles the splits.
3. The active splits (ratio > 0), in the order train, eval, test, cut that ordered
   list into contiguous blocks. With n subjects in the grade and C_k the normalised
   cumulative ratio up to split k, block k ends at b_k = floor(n * C_k + 1/2).
4. With at least as many subjects as active splits (n >= m), every active split gets
   one: b_k = max(b_{k-1} + 1, min(floor(n * C_k + 1/2), n - (m - 1 - k))), taking
   the splits k = 0 .. m-1 in turn from b_{-1} = 0.
5. With fewer (n < m), the subjects go one to a split in the order train, test, eval:
   train needs a grade to learn it, test to judge it.

Stability: each b_k never decreases and grows by at most 1 when a subject is added,
so adding one subject to a manifest moves at most one old subject across each
boundary, at most m - 1 (2 with three splits) in all, and only subjects of the new
subject's grade; every other grade keeps its assignment. The rule is deterministic
(it depends only on the ids and their grades) and subject-disjoint by construction.

The rule cannot help a grade with a single subject, nor one whose test subjects give
no face crops; ``check_test_split`` stops the run for those, once before any media is
decoded and once after extraction. It counts a subject under every grade its rows
carry, as the evaluation sees the examples.

``frame_split`` is the opposite, for ``palsy-tfx leakage`` alone: each frame drawn on
its own, as the paper's 99.3% was measured, so one person's frames land in train and
test alike. It exists to show how much that inflates a score, never to report or serve
a model.
"""
import collections
import fractions
import hashlib
import math
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

from preprocessing.labels import GRADES, HOUSE_BRACKMANN

SPLIT_NAMES = ('train', 'eval', 'test')
# What a split keeps together: 'subject' (the design) or 'frame' (the leaky split of the
# paper, for the leakage demonstration only).
SPLIT_BY = ('subject', 'frame')
DEFAULT_RATIOS = (0.70, 0.15, 0.15)
# Who gets a grade's subjects when there are fewer than splits: train must see a grade
# to learn it, test to judge it; eval only steers early stopping.
FILL_PRIORITY = ('train', 'test', 'eval')
_ROLES = {'train': 'one to train on', 'test': 'one to test', 'eval': 'one in eval'}


class SplitError(ValueError):
  """The splits cannot evaluate every grade; nothing should be trained on them."""


def validate_ratios(ratios: Sequence[float]) -> None:
  """Refuse ratios that cannot split; VideoIngest calls this as the pipeline is built,
  so a bad value fails before any run starts."""
  if len(ratios) != len(SPLIT_NAMES) or any(r < 0 for r in ratios) or sum(ratios) <= 0:
    raise ValueError(f'split ratios must be three non-negative numbers for '
                     f'{"/".join(SPLIT_NAMES)}, got {list(ratios)}')


def active_splits(ratios: Sequence[float]) -> List[Tuple[str, fractions.Fraction]]:
  """The splits with a share, in SPLIT_NAMES order, with exact normalised shares.

  Exact because block ends round n * C at halves: 10 subjects at 0.7 + 0.15 must
  end eval at 9 whatever binary floats make of 8.5. ``str`` recovers the decimal that
  was written (0.7, not 0.6999...).
  """
  validate_ratios(ratios)
  exact = [fractions.Fraction(str(r)) for r in ratios]
  total = sum(exact)
  return [(name, r / total) for name, r in zip(SPLIT_NAMES, exact) if r > 0]


def cumulative_ends(n: int, shares: Sequence[fractions.Fraction]) -> List[int]:
  """Block ends for n >= len(shares) subjects: rounded cumulative shares, pushed
  apart so that every block holds at least one subject."""
  m = len(shares)
  ends, cumulative, end = [], 0, 0
  for k, share in enumerate(shares):
    cumulative += share
    rounded = math.floor(n * cumulative + fractions.Fraction(1, 2))
    end = max(end + 1, min(rounded, n - (m - 1 - k)))
    ends.append(end)
  return ends


def priority_ends(n: int, names: Sequence[str]) -> List[int]:
  """Block ends for n < len(names) subjects: one each to the first n splits of
  FILL_PRIORITY, blocks still laid out in ``names`` order."""
  filled = [name for name in FILL_PRIORITY if name in names][:n]
  ends, end = [], 0
  for name in names:
    end += name in filled
    ends.append(end)
  return ends


def block_ends(n: int, active: Sequence[Tuple[str, fractions.Fraction]]) -> List[int]:
  """Where each active split's block ends in a grade's ordered list of n subjects."""
  if n < len(active):
    return priority_ends(n, [name for name, _ in active])
  return cumulative_ends(n, [share for _, share in active])


def hash_point(subject_id: str) -> float:
  """Where a raw subject id falls in [0, 1); independent of the pseudonym key."""
  digest = hashlib.sha256(('split:' + subject_id).encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'big') / 2.0**64


def frame_split(video_id: str, timestamp_ms: int,
                ratios: Sequence[float] = DEFAULT_RATIOS) -> str:
  """The split of one frame under the leaky frame split: a hash point of the frame
  (SHA-256 of ``'frame-split:' + video id + ':' + timestamp``, in [0, 1)) against the
  cumulative ratios. Deterministic, so a cached or re-run ingest splits alike, and
  computable from an example's own ``video_id`` and ``timestamp_ms`` features.
  """
  digest = hashlib.sha256(f'frame-split:{video_id}:{timestamp_ms}'.encode('utf-8')).digest()
  point = int.from_bytes(digest[:8], 'big') / 2.0**64
  cumulative = 0
  active = active_splits(ratios)
  for name, share in active:
    cumulative += share
    if point < cumulative:
      return name
  return active[-1][0]


def subject_grades(items: Iterable) -> Dict[str, int]:
  """Each subject's stratum from manifest Items (anything with ``subject_id`` and
  ``grade``): its most frequent grade, ties to the lower grade, so the choice does
  not depend on row order."""
  counts = collections.defaultdict(collections.Counter)
  for item in items:
    counts[item.subject_id][item.grade] += 1
  return {subject: min(c, key=lambda g: (-c[g], g))
          for subject, c in sorted(counts.items())}


def assign_splits(subject_grades: Mapping[str, int],  # pylint: disable=redefined-outer-name
                  ratios: Sequence[float] = DEFAULT_RATIOS) -> Dict[str, str]:
  """Raw subject id -> split name, stratified by grade (the rule in the module doc)."""
  active = active_splits(ratios)
  by_grade = collections.defaultdict(list)
  for subject, grade in subject_grades.items():
    by_grade[grade].append(subject)
  split_of = {}
  for subjects in by_grade.values():
    ordered = sorted(subjects, key=lambda s: (hash_point(s), s))
    start = 0
    for (name, _), end in zip(active, block_ends(len(ordered), active)):
      split_of.update((s, name) for s in ordered[start:end])
      start = end
  return dict(sorted(split_of.items()))


def subjects_per_class(items: Iterable, split_of: Mapping[str, str]
                       ) -> Dict[str, Dict[str, int]]:
  """Split -> grade name -> subjects with rows of that grade, the manifest's side of
  the per-class subject counts that the ingest summary reports after extraction."""
  subjects = {name: collections.defaultdict(set) for name in SPLIT_NAMES}
  for item in items:
    subjects[split_of[item.subject_id]][GRADES[item.grade]].add(item.subject_id)
  return {split: {grade: len(s) for grade, s in sorted(by_grade.items())}
          for split, by_grade in subjects.items()}


def missing_test_grades(per_class: Mapping[str, Mapping[str, int]]) -> List[str]:
  """Grade names that some split has a subject of and test has none, in grade order."""
  present = {g for counts in per_class.values() for g, n in counts.items() if n}
  tested = {g for g, n in per_class.get('test', {}).items() if n}
  return [g for g in GRADES if g in present - tested]


def needed_clause(ratios: Sequence[float]) -> str:
  """How many subjects a grade needs to reach test (and every split), e.g. 'at least
  2 are needed (one to train on, one to test), 3 to also have one in eval'."""
  names = [name for name, _ in active_splits(ratios)]
  order = [name for name in FILL_PRIORITY if name in names]
  need = order.index('test') + 1
  clause = (f'at least {need} {"is" if need == 1 else "are"} needed '
            f'({", ".join(_ROLES[name] for name in order[:need])})')
  if len(order) > need:
    clause += f', {len(order)} to also have one in {" and ".join(order[need:])}'
  return clause


def split_error_message(missing: Sequence[str], found: Mapping[str, Mapping[str, int]],
                       assigned: Mapping[str, Mapping[str, int]], ratios: Sequence[float],
                       after_extraction: bool) -> str:
  """The SplitError text: which grades, how many subjects each has, how many it needs."""
  grades = (f'grade{"s" if len(missing) > 1 else ""} ' +
            ', '.join(f'{g} (HB {HOUSE_BRACKMANN[GRADES.index(g)]})' for g in missing))
  them = 'them' if len(missing) > 1 else 'it'
  if after_extraction:
    lines = [f'After face detection the test split has no subject with face crops of '
             f'{grades}, so the Evaluator could not judge {them} and no model could be '
             f'blessed. The run stops before training.']
  else:
    lines = [f'The test split has no subject of {grades}, so the Evaluator could not '
             f'judge {them} and no model could be blessed. The run stops before any '
             f'media is decoded.']
  needed = needed_clause(ratios)
  for g in missing:
    total = sum(counts.get(g, 0) for counts in assigned.values())
    per_split = ', '.join(f'{s} {found.get(s, {}).get(g, 0)}' for s in SPLIT_NAMES)
    where = f', with face crops {per_split}' if after_extraction else f' ({per_split})'
    lines.append(f'  {g} (HB {HOUSE_BRACKMANN[GRADES.index(g)]}): {total} '
                 f'subject{"" if total == 1 else "s"} in the manifest{where}; {needed}.')
  if after_extraction:
    lines.append('The media of their test subjects gave no face crops (see the failed '
                 'inputs in the ingest summary above): replace it, or add subjects of '
                 'these grades.')
  else:
    lines.append('Add subjects of these grades to the manifest, or remove their rows. '
                 '(A subject whose rows carry several grades is split with its most '
                 'frequent one.)')
  return '\n'.join(lines)


def check_test_split(found: Mapping[str, Mapping[str, int]],
                     assigned: Mapping[str, Mapping[str, int]], ratios: Sequence[float],
                     after_extraction: bool = False) -> None:
  """Raise SplitError when a grade present in ``found`` has no subject in test.

  ``found`` is split -> grade name -> subjects: as assigned (``assigned`` itself,
  before any media is read) or as having given face crops (after extraction).
  ``assigned`` supplies the manifest's subject counts for the message.
  """
  missing = missing_test_grades(found)
  if not missing:
    return
  require_test_share(ratios)
  raise SplitError(split_error_message(missing, found, assigned, ratios, after_extraction))


def require_test_share(ratios: Sequence[float]) -> None:
  """Raise SplitError when the ratios leave the test split empty."""
  if 'test' not in dict(active_splits(ratios)):
    raise SplitError(f'The split ratios {list(ratios)} (train, eval, test) give the test '
                     f'split no share, so the Evaluator would have nothing to judge; give '
                     f'test a ratio above 0.')


def check_frame_test_split(frames_per_class: Mapping[str, Mapping[str, int]]) -> None:
  """Under the frame split, raise SplitError when a grade that gave face crops has none
  in test: the Evaluator could not judge it. Only a grade with very few frames misses
  test by chance; ``frames_per_class`` is split -> grade name -> face crops."""
  missing = missing_test_grades(frames_per_class)
  if not missing:
    return
  lines = ['With the frame split, the test split has no frame of '
           f'{", ".join(missing)}, so the Evaluator could not judge '
           f'{"them" if len(missing) > 1 else "it"}. The run stops before training.']
  for g in missing:
    per_split = ', '.join(f'{s} {frames_per_class.get(s, {}).get(g, 0)}'
                          for s in SPLIT_NAMES)
    lines.append(f'  {g} (HB {HOUSE_BRACKMANN[GRADES.index(g)]}): face crops {per_split}.')
  lines.append('Add media of these grades, or sample more frames per second.')
  raise SplitError('\n'.join(lines))

