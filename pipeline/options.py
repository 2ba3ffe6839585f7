"""Options declared once for the command line and the Kubeflow runner: the label
scale of bare numbers, the face alignment, and the quality gates.

Every gate judges the test split (subjects never seen in training) on the overall
slice. Frame-level gates catch a model that is wrong on many frames; subject-level
gates judge what a clinician sees, one grade per patient (the mean of the patient's
frame probabilities).
"""
import argparse
import dataclasses
from typing import Sequence, Tuple

from pipeline import configs
from preprocessing.crop_settings import ALIGNMENTS, DEFAULT_ALIGNMENT
from preprocessing.labels import GRADES, NUM_GRADES, NUMERIC_SCALES


@dataclasses.dataclass(frozen=True)
class Gates:
  min_accuracy: float = configs.DEFAULT_MIN_ACCURACY
  min_class_recall: Tuple[float, ...] = (configs.DEFAULT_MIN_CLASS_RECALL,)
  min_subject_balanced_accuracy: float = configs.DEFAULT_MIN_SUBJECT_BALANCED_ACCURACY
  min_subject_within_one: float = configs.DEFAULT_MIN_SUBJECT_WITHIN_ONE
  min_subject_class_recall: Tuple[float, ...] = (configs.DEFAULT_MIN_SUBJECT_CLASS_RECALL,)
  regression_tolerance: float = configs.DEFAULT_REGRESSION_TOLERANCE

  def __post_init__(self):
    for field in ('min_class_recall', 'min_subject_class_recall'):
      object.__setattr__(self, field, tuple(per_grade(getattr(self, field), field)))
    if self.regression_tolerance < 0:
      raise ValueError(f'--regression-tolerance must be >= 0, got {self.regression_tolerance}')


def per_grade(values: Sequence[float], field: str) -> list:
  """One floor for every grade, or one per grade."""
  values = [float(v) for v in values]
  if len(values) == 1:
    return values * NUM_GRADES
  if len(values) != NUM_GRADES:
    flag = '--' + field.replace('_', '-')
    raise ValueError(f'{flag} takes 1 or {NUM_GRADES} values ({", ".join(GRADES)}), '
                     f'got {len(values)}')
  return values


def add_numeric_labels_arg(parser) -> None:
  """``--numeric-labels``: without it a bare number in ``label`` is refused, since
  House-Brackmann 1-6 read as ids 0-5 would shift every grade by one."""
  parser.add_argument('--numeric-labels', choices=sorted(NUMERIC_SCALES), default=None,
                      help="what a bare number in the label column means: 'hb' = "
                           "House-Brackmann 1-6, 'id' = grade id 0-5 (default: refuse the "
                           'row as ambiguous; HB-4 or IV is never ambiguous)')


def add_alignment_arg(parser) -> None:
  """``--alignment``: how ingest crops faces; the model records it and prediction follows."""
  parser.add_argument('--alignment', choices=ALIGNMENTS, default=DEFAULT_ALIGNMENT,
                      help="'none': a square around the detected face; 'five_point': the "
                           "face turned upright and scaled by dlib's 5-point landmarks, as "
                           'dlib.get_face_chip does (default: none)')


def add_gate_args(parser: argparse.ArgumentParser) -> None:
  d = Gates()
  group = parser.add_argument_group('quality gates (on the test split, overall slice)')
  group.add_argument('--min-accuracy', type=float, default=d.min_accuracy,
                     help='frame-level accuracy floor')
  group.add_argument('--min-class-recall', type=float, nargs='+', default=[d.min_class_recall[0]],
                     help='frame-level recall floor of the predicted grade: one for every '
                          'grade, or six (normal .. complete)')
  group.add_argument('--min-subject-balanced-accuracy', type=float,
                     default=d.min_subject_balanced_accuracy,
                     help='subject-level balanced accuracy (mean per-grade recall) floor')
  group.add_argument('--min-subject-within-one', type=float, default=d.min_subject_within_one,
                     help='floor on the share of subjects graded within one grade')
  group.add_argument('--min-subject-class-recall', type=float, nargs='+',
                     default=[d.min_subject_class_recall[0]],
                     help='subject-level recall floor per grade: one, or six')
  group.add_argument('--regression-tolerance', type=float, default=d.regression_tolerance,
                     help='how much lower than the last blessed model the frame accuracy and '
                          'subject balanced accuracy may be')


def gates_from_args(args: argparse.Namespace) -> Gates:
  return Gates(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Gates)})
