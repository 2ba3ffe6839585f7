"""The clinical metric table as rows: subject level with its 95% CIs, then video and
frame, then one row per grade. The run summary prints them as text, the evidence report
renders them as HTML, and the model card as Markdown, so the three always agree.
"""
from typing import Dict, List, Optional

import numpy as np

from components.evaluation.clinical_metrics import LEVELS
from preprocessing.labels import GRADES

SUBJECT_MEASURES = (('exact_accuracy', 'exact accuracy'),
                    ('within_one_accuracy', 'within one grade'),
                    ('mae', 'mean abs. error (grades)'),
                    ('quadratic_weighted_kappa', 'quadratic weighted kappa'),
                    ('balanced_accuracy', 'balanced accuracy'),
                    ('macro_f1', 'macro F1'),
                    ('ece', 'ECE (top-label, 10 bins)'),
                    ('brier', 'Brier score'),
                    ('nll', 'neg. log-likelihood'))


def format_value(metrics, name, ci=False) -> str:
  """'0.833', with ' [0.50, 1.00]' when ``ci`` and the interval exists; 'n/a' for none."""
  if name not in metrics or np.isnan(metrics[name]):
    return 'n/a'
  text = f'{metrics[name]:.3f}'
  base, _, grade = name.partition('[')
  suffix = f'[{grade}' if grade else ''
  low, high = metrics.get(f'{base}_ci_low{suffix}'), metrics.get(f'{base}_ci_high{suffix}')
  if ci and low is not None and not np.isnan(low):
    text += f' [{low:.2f}, {high:.2f}]'
  return text


def counts_line(metrics: Dict[str, float]) -> str:
  count = {level: int(metrics.get(f'{level}_count', 0)) for level in LEVELS}
  return (f'{count["subject"]} subjects, {count["video"]} videos and stills, '
          f'{count["frame"]} frames. A subject\'s or video\'s grade is the argmax of the mean '
          'of its frames\' probabilities; [95% CI] from 2,000 bootstrap resamples of '
          'subjects.')


def referral_line(metrics: Dict[str, float]) -> Optional[str]:
  """The referral rule's subject measures in a sentence; None when not measured."""
  if 'subject_coverage' not in metrics:
    return None
  return ("Referral by the model's rule: coverage (subjects not referred) "
          f"{format_value(metrics, 'subject_coverage', ci=True)}; among the accepted, exact "
          f"{format_value(metrics, 'subject_accepted_exact_accuracy', ci=True)} and within one "
          f"{format_value(metrics, 'subject_accepted_within_one_accuracy', ci=True)}.")


LEVEL_HEADER = ('', 'subject [95% CI]', 'video', 'frame')
GRADE_HEADER = ('grade', 'subject recall [95% CI]', 'subj. prec.', 'frame recall',
                'frame prec.', 'frame F1', 'AUC')
ABSENT_GRADE = 'n/a: absent from the manifest'


UNCALIBRATED_ECE = 'frame_ece_uncalibrated'  # components.evaluation.uncalibrated_metric
UNCALIBRATED_LABEL = 'ECE at T=1 (uncalibrated)'


def level_rows(metrics: Dict[str, float]) -> List[List[str]]:
  """One row per measure: its subject value with the 95% CI, video and frame values;
  below the ECE, the frame ECE of the network's own softmax when it was measured, so the
  table shows what the temperature did."""
  rows = []
  for measure, label in SUBJECT_MEASURES:
    rows.append([label, format_value(metrics, 'subject_' + measure, ci=True),
                 format_value(metrics, 'video_' + measure),
                 format_value(metrics, 'frame_' + measure)])
    if measure == 'ece' and UNCALIBRATED_ECE in metrics:
      rows.append([UNCALIBRATED_LABEL, '', '', format_value(metrics, UNCALIBRATED_ECE)])
  return rows


def grade_rows(metrics: Dict[str, float], subject_matrix: Optional[np.ndarray] = None
               ) -> List[List[str]]:
  """One row per grade (GRADE_HEADER); a grade absent from the manifest gets two cells.

  Per-grade subject recall comes with its count from the subject confusion matrix
  (e.g. 1/1), which says more than an interval when a grade has one test subject.
  """
  rows = []
  for g, grade in enumerate(GRADES):
    if f'frame_recall[{grade}]' not in metrics:
      rows.append([grade, ABSENT_GRADE])
      continue
    recall = format_value(metrics, f'subject_recall[{grade}]', ci=True)
    if subject_matrix is not None:
      recall = f'{subject_matrix[g, g]}/{subject_matrix[g].sum()} {recall}'
    rows.append([grade, recall] + [format_value(metrics, f'{name}[{grade}]') for name in (
        'subject_precision', 'frame_recall', 'frame_precision', 'frame_f1', 'auc')])
  return rows


def _text_row(cells, widths) -> str:
  first, *rest = cells
  return '  ' + ' '.join([f'{first:{widths[0]}s}'] +
                         [f'{cell:>{width}s}' for cell, width in zip(rest, widths[1:])])


def metrics_table(metrics: Dict[str, float], subject_matrix: Optional[np.ndarray] = None
                  ) -> str:
  """The clinical table as text: subject level with 95% CIs, then video and frame, then
  grades. The evidence report renders the same rows as HTML."""
  level_widths, grade_widths = (26, 22, 7, 7), (12, 30, 11, 12, 11, 8, 6)
  lines = ['  ' + counts_line(metrics), _text_row(LEVEL_HEADER, level_widths)]
  lines += [_text_row(row, level_widths) for row in level_rows(metrics)]
  lines.append('\n' + _text_row(GRADE_HEADER, grade_widths))
  lines += [_text_row(row, grade_widths) for row in grade_rows(metrics, subject_matrix)]
  referral = referral_line(metrics)
  if referral:
    lines.append('\n  ' + referral)
  return '\n'.join(lines)
