"""Read one finished run's outputs back from MLMD and say what a person wants to know:
the data, whether the model was blessed (and if not, which thresholds failed), the
grading metrics at frame, video and subject level with their confidence intervals, and
where the model was pushed, and where the run's evidence report is. The report
(``components/evidence_report``) builds its tables from the rows made here.

Only the artifacts that *this* run produced (or took from the cache) are read: the
outputs of the executions in the run's ``pipeline_run`` context. The newest artifact of
each type would let a ``--stop-after ingest`` run report the blessing of an earlier run.
"""
import json
import os
from typing import Dict, List, NamedTuple, Optional

import numpy as np
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

from components.evidence_report.headline import (CONFUSION_PNG, REPORT_FILE, REPORT_TYPE,
                                                 read_headline)
from components.video_ingest.summary import SUMMARY_FILE, describe_test_split, format_summary
from pipeline.artifacts import run_artifacts
from preprocessing.labels import GRADES

LEVELS = ('frame', 'video', 'subject')
SUBJECT_MEASURES = (('exact_accuracy', 'exact accuracy'),
                     ('within_one_accuracy', 'within one grade'),
                     ('mae', 'mean abs. error (grades)'),
                     ('quadratic_weighted_kappa', 'quadratic weighted kappa'),
                     ('balanced_accuracy', 'balanced accuracy'),
                     ('macro_f1', 'macro F1'))


def ingest_summary(examples_uri: str) -> Optional[dict]:
  path = os.path.join(examples_uri, SUMMARY_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def metric_name(key) -> str:
  """A TFMA MetricKey proto as people read it, e.g. 'subject_recall[severe]'."""
  name = key.name
  if key.HasField('sub_key') and key.sub_key.HasField('class_id'):
    name = f'{name}[{GRADES[key.sub_key.class_id.value]}]'
  if key.HasField('aggregation_type') and key.aggregation_type.macro_average:
    name = f'macro_{name}'
  return name


def requirement(threshold) -> str:
  """What a GenericValueThreshold or GenericChangeThreshold asks, in words."""
  from tensorflow_model_analysis.proto import config_pb2  # pylint: disable=g-import-not-at-top
  if isinstance(threshold, config_pb2.GenericChangeThreshold):
    return (f'no regression beyond {-threshold.absolute.value:g} '
            'against the last blessed model')
  if threshold.HasField('lower_bound'):
    return f'>= {threshold.lower_bound.value:g}'
  return str(threshold).replace('\n', ' ')


class Failure(NamedTuple):
  """A threshold the candidate missed: its metric, slice, and a readable line.

  ``name`` is None for a slice missing from the evaluation data."""
  name: Optional[str]
  where: str
  is_diff: bool
  line: str


def threshold_failures(evaluation_uri: str) -> List[Failure]:
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result = tfma.load_validation_result(evaluation_uri)
  failures = []
  for per_slice in result.metric_validations_per_slice:
    where = ', '.join(f'{c.column}={c.bytes_value.decode() or c.int64_value}'
                      for c in per_slice.slice_key.single_slice_keys) or 'overall'
    for failure in per_slice.failures:
      threshold, is_diff = failure.metric_threshold, failure.metric_key.is_diff
      bound = requirement(threshold.change_threshold if is_diff else threshold.value_threshold)
      found = (f'{failure.metric_value.double_value.value:.3f}'
               if failure.HasField('metric_value') else failure.message or 'not computed')
      name = metric_name(failure.metric_key)
      failures.append(Failure(name, where, is_diff,
                              f'{name} ({where}) = {found}, required {bound}'))
  for missing in result.missing_slices:
    failures.append(Failure(None, str(missing), False,
                            f'slice missing from the evaluation data: {missing}'))
  return failures


def failed_thresholds(evaluation_uri: str) -> List[str]:
  """Readable lines for every threshold the candidate missed."""
  return [failure.line for failure in threshold_failures(evaluation_uri)]


def _candidate_overall(evaluation_uri: str, changes: bool = False):
  """(key, value) of the candidate model's metrics on the overall slice."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  for per_slice in tfma.load_metrics(evaluation_uri):
    if per_slice.slice_key.single_slice_keys:
      continue
    for kv in per_slice.metric_keys_and_values:
      if kv.key.is_diff == changes and kv.key.model_name in ('', 'candidate'):
        yield kv.key, kv.value


def overall_metrics(evaluation_uri: str, changes: bool = False) -> Dict[str, float]:
  """Candidate metrics on the overall slice, named like 'subject_recall[severe]'.

  ``changes``: the candidate's differences from the baseline model instead (none when
  there was no blessed baseline), which the no-regression gates judge.
  """
  return {metric_name(k): v.double_value.value
          for k, v in _candidate_overall(evaluation_uri, changes)
          if v.HasField('double_value')}


def confusion_matrices(evaluation_uri: str) -> Dict[str, np.ndarray]:
  """Level -> counts [true grade, predicted grade] on the overall slice."""
  out = {}
  for key, value in _candidate_overall(evaluation_uri):
    level = key.name[:-len('_confusion_matrix')]
    if key.name.endswith('_confusion_matrix') and level in LEVELS:
      array = value.array_value
      out[level] = np.array(array.float64_values).reshape(list(array.shape)).astype(np.int64)
  return out


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


LEVEL_HEADER = ('', 'subject [95% CI]', 'video', 'frame')
GRADE_HEADER = ('grade', 'subject recall [95% CI]', 'subj. prec.', 'frame recall',
                'frame prec.', 'frame F1', 'AUC')
ABSENT_GRADE = 'n/a: absent from the manifest'


def level_rows(metrics: Dict[str, float]) -> List[List[str]]:
  """One row per measure: its subject value with the 95% CI, video and frame values."""
  return [[label, format_value(metrics, 'subject_' + measure, ci=True),
           format_value(metrics, 'video_' + measure), format_value(metrics, 'frame_' + measure)]
          for measure, label in SUBJECT_MEASURES]


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
  return '\n'.join(lines)


def report(config: metadata_store_pb2.ConnectionConfig) -> dict:
  """Print the run's outcome; return {'blessed', 'failed_thresholds', 'pushed_to',
  'report', ...}."""
  artifacts = run_artifacts(config)
  lines, outcome = [], {}
  summary = None
  if 'Examples' in artifacts:
    summary = ingest_summary(artifacts['Examples'].uri)
    lines.append(f'Examples: {artifacts["Examples"].uri}')
    if summary:
      outcome['ingest'] = summary
      lines.append(format_summary(summary))
  for name, label in (('ExampleStatistics', 'Statistics'), ('Schema', 'Schema'),
                      ('ExampleAnomalies', 'Anomalies'), ('ModelRun', 'Training logs')):
    if name in artifacts:
      lines.append(f'{label}: {artifacts[name].uri}')
  if 'ModelEvaluation' in artifacts:
    uri = artifacts['ModelEvaluation'].uri
    blessed = bool(artifacts['ModelBlessing'].custom_properties['blessed'].int_value)
    outcome['blessed'] = blessed
    outcome['failed_thresholds'] = failed_thresholds(uri)
    metrics = overall_metrics(uri)
    outcome['metrics'] = metrics
    lines.append(f'\nEvaluation on the test split ({describe_test_split(summary)}):')
    matrices = confusion_matrices(uri)
    lines.append(metrics_table(metrics, matrices.get('subject')))
    outcome['confusion_matrices'] = {k: v.tolist() for k, v in matrices.items()}
    if blessed:
      lines.append('Model BLESSED: it met every threshold.')
    else:
      lines.append('Model NOT blessed; failed thresholds:')
      lines.extend(f'  - {line}' for line in outcome['failed_thresholds'])
  if 'PushedModel' in artifacts:
    pushed = artifacts['PushedModel'].custom_properties
    if pushed['pushed'].int_value:
      outcome['pushed_to'] = pushed['pushed_destination'].string_value
      lines.append(f'Pushed for TF Serving: {outcome["pushed_to"]}')
    else:
      lines.append('Nothing pushed (model not blessed).')
  if REPORT_TYPE in artifacts:
    uri = artifacts[REPORT_TYPE].uri
    outcome['report'] = os.path.join(uri, REPORT_FILE)
    outcome['confusion_matrix_png'] = os.path.join(uri, CONFUSION_PNG)
    outcome['report_headline'] = read_headline(uri)
    lines.append(f'Evidence report: {outcome["report"]}')
  print('\n'.join(lines), flush=True)
  return outcome
