"""Read one finished run's outputs back from MLMD and say what a person wants to know:
the data, whether the model was blessed (and if not, which thresholds failed), the
grading metrics at frame, video and subject level with their confidence intervals, and
where the model was pushed. Also draws the frame and subject confusion matrices.

Only the artifacts that *this* run produced (or took from the cache) are read: the
outputs of the executions in the run's ``pipeline_run`` context. The newest artifact of
each type would let a ``--stop-after ingest`` run report the blessing of an earlier run.
"""
import json
import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.video_ingest.summary import SUMMARY_FILE, format_summary
from preprocessing.labels import GRADES

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_LEVELS = ('frame', 'video', 'subject')
_SUBJECT_MEASURES = (('exact_accuracy', 'exact accuracy'),
                     ('within_one_accuracy', 'within one grade'),
                     ('mae', 'mean abs. error (grades)'),
                     ('quadratic_weighted_kappa', 'quadratic weighted kappa'),
                     ('balanced_accuracy', 'balanced accuracy'),
                     ('macro_f1', 'macro F1'))


def run_artifacts(config: metadata_store_pb2.ConnectionConfig) -> Dict[str, object]:
  """This run's output artifacts, keyed by type name (the newest pipeline_run context).

  A Resolver's execution "outputs" the earlier model it resolved, so resolver
  executions are skipped: their artifacts belong to the run that made them.
  """
  store = metadata_store.MetadataStore(config)
  runs = store.get_contexts_by_type('pipeline_run')
  if not runs:
    return {}
  run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
  execution_types = {t.id: t.name for t in store.get_execution_types()}
  executions = [e for e in store.get_executions_by_context(run.id)
                if not execution_types[e.type_id].endswith('.Resolver')]
  events = store.get_events_by_execution_ids([e.id for e in executions])
  ids = sorted({e.artifact_id for e in events if e.type in _OUTPUT_EVENTS})
  types = {t.id: t.name for t in store.get_artifact_types()}
  return {types[a.type_id]: a for a in store.get_artifacts_by_id(ids)}


def ingest_summary(examples_uri: str) -> Optional[dict]:
  path = os.path.join(examples_uri, SUMMARY_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _metric_name(key) -> str:
  name = key.name
  if key.HasField('sub_key') and key.sub_key.HasField('class_id'):
    name = f'{name}[{GRADES[key.sub_key.class_id.value]}]'
  if key.HasField('aggregation_type') and key.aggregation_type.macro_average:
    name = f'macro_{name}'
  return name


def failed_thresholds(evaluation_uri: str) -> List[str]:
  """Readable lines for every threshold the candidate missed."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result = tfma.load_validation_result(evaluation_uri)
  lines = []
  for per_slice in result.metric_validations_per_slice:
    where = ', '.join(f'{c.column}={c.bytes_value.decode() or c.int64_value}'
                      for c in per_slice.slice_key.single_slice_keys) or 'overall'
    for failure in per_slice.failures:
      threshold = failure.metric_threshold
      if failure.metric_key.is_diff:
        bound = (f'no regression beyond {-threshold.change_threshold.absolute.value:g} '
                 'against the last blessed model')
      elif threshold.value_threshold.HasField('lower_bound'):
        bound = f'>= {threshold.value_threshold.lower_bound.value:g}'
      else:
        bound = str(threshold).replace('\n', ' ')
      found = (f'{failure.metric_value.double_value.value:.3f}'
               if failure.HasField('metric_value') else failure.message or 'not computed')
      lines.append(f'{_metric_name(failure.metric_key)} ({where}) = {found}, required {bound}')
  for missing in result.missing_slices:
    lines.append(f'slice missing from the evaluation data: {missing}')
  return lines


def _candidate_overall(evaluation_uri: str):
  """(key, value) of the candidate model's metrics on the overall slice."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  for per_slice in tfma.load_metrics(evaluation_uri):
    if per_slice.slice_key.single_slice_keys:
      continue
    for kv in per_slice.metric_keys_and_values:
      if not kv.key.is_diff and kv.key.model_name in ('', 'candidate'):
        yield kv.key, kv.value


def overall_metrics(evaluation_uri: str) -> Dict[str, float]:
  """Candidate metrics on the overall slice, named like 'subject_recall[severe]'."""
  return {_metric_name(k): v.double_value.value for k, v in _candidate_overall(evaluation_uri)
          if v.HasField('double_value')}


def confusion_matrices(evaluation_uri: str) -> Dict[str, np.ndarray]:
  """Level -> counts [true grade, predicted grade] on the overall slice."""
  out = {}
  for key, value in _candidate_overall(evaluation_uri):
    level = key.name[:-len('_confusion_matrix')]
    if key.name.endswith('_confusion_matrix') and level in _LEVELS:
      array = value.array_value
      out[level] = np.array(array.float64_values).reshape(list(array.shape)).astype(np.int64)
  return out


def plot_confusion_matrices(matrices: Dict[str, np.ndarray], path: str,
                            test_split: str = 'subjects never seen in training') -> None:
  """``test_split`` says in each title what the test split holds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  levels = [level for level in ('frame', 'subject') if level in matrices]
  fig, axes = plt.subplots(1, len(levels), figsize=(6 * len(levels), 5), squeeze=False)
  for ax, level in zip(axes[0], levels):
    matrix = matrices[level]
    im = ax.imshow(matrix, cmap='Blues')
    ax.set_xticks(range(len(GRADES)), GRADES, rotation=45, ha='right')
    ax.set_yticks(range(len(GRADES)), GRADES)
    ax.set_xlabel('predicted grade')
    ax.set_ylabel('true grade')
    ax.set_title(f'{level}s of the test split ({test_split})')
    for i in range(len(GRADES)):
      for j in range(len(GRADES)):
        ax.text(j, i, int(matrix[i, j]), ha='center', va='center',
                color='white' if matrix[i, j] > matrix.max() / 2 else 'black')
    fig.colorbar(im, ax=ax)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def _value(metrics, name, ci=False) -> str:
  if name not in metrics or np.isnan(metrics[name]):
    return 'n/a'
  text = f'{metrics[name]:.3f}'
  base, _, grade = name.partition('[')
  suffix = f'[{grade}' if grade else ''
  low, high = metrics.get(f'{base}_ci_low{suffix}'), metrics.get(f'{base}_ci_high{suffix}')
  if ci and low is not None and not np.isnan(low):
    text += f' [{low:.2f}, {high:.2f}]'
  return text


def metrics_table(metrics: Dict[str, float], subject_matrix: Optional[np.ndarray] = None
                  ) -> str:
  """The clinical table: subject level with 95% CIs, then video and frame, then grades.

  Per-grade subject recall is printed with its count from the subject confusion matrix
  (e.g. 1/1), which says more than an interval when a grade has one test subject.
  """
  count = {level: int(metrics.get(f'{level}_count', 0)) for level in _LEVELS}
  lines = [f'  {count["subject"]} subjects, {count["video"]} videos and stills, '
           f'{count["frame"]} frames. A subject\'s or video\'s grade is the argmax of the mean '
           'of its frames\' probabilities; [95% CI] from 2,000 bootstrap resamples of '
           'subjects.',
           f'  {"":26s} {"subject [95% CI]":>22s} {"video":>7s} {"frame":>7s}']
  for measure, label in _SUBJECT_MEASURES:
    lines.append(f'  {label:26s} {_value(metrics, "subject_" + measure, ci=True):>22s} '
                 f'{_value(metrics, "video_" + measure):>7s} '
                 f'{_value(metrics, "frame_" + measure):>7s}')
  lines.append(f'\n  {"grade":12s} {"subject recall [95% CI]":>30s} {"subj. prec.":>11s} '
               f'{"frame recall":>12s} {"frame prec.":>11s} {"frame F1":>8s} {"AUC":>6s}')
  for grade in GRADES:
    if f'frame_recall[{grade}]' not in metrics:
      lines.append(f'  {grade:12s} {"n/a: absent from the manifest":>30s}')
      continue
    recall = _value(metrics, f'subject_recall[{grade}]', ci=True)
    if subject_matrix is not None:
      g = GRADES.index(grade)
      recall = f'{subject_matrix[g, g]}/{subject_matrix[g].sum()} {recall}'
    lines.append(f'  {grade:12s} {recall:>30s} '
                 f'{_value(metrics, f"subject_precision[{grade}]"):>11s} '
                 f'{_value(metrics, f"frame_recall[{grade}]"):>12s} '
                 f'{_value(metrics, f"frame_precision[{grade}]"):>11s} '
                 f'{_value(metrics, f"frame_f1[{grade}]"):>8s} '
                 f'{_value(metrics, f"auc[{grade}]"):>6s}')
  return '\n'.join(lines)


def report(config: metadata_store_pb2.ConnectionConfig, report_dir: str) -> dict:
  """Print the run's outcome; return {'blessed', 'failed_thresholds', 'pushed_to', ...}."""
  artifacts = run_artifacts(config)
  lines, outcome = [], {}
  test_split = 'subjects never seen in training'
  if 'Examples' in artifacts:
    summary = ingest_summary(artifacts['Examples'].uri)
    lines.append(f'Examples: {artifacts["Examples"].uri}')
    if summary:
      outcome['ingest'] = summary
      lines.append(format_summary(summary))
      if summary.get('split_by') == 'frame':
        test_split = 'split by FRAME, its subjects seen in training: inflated'
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
    lines.append(f'\nEvaluation on the test split ({test_split}):')
    matrices = confusion_matrices(uri)
    lines.append(metrics_table(metrics, matrices.get('subject')))
    outcome['confusion_matrices'] = {k: v.tolist() for k, v in matrices.items()}
    if matrices:
      os.makedirs(report_dir, exist_ok=True)
      outcome['confusion_matrix_png'] = os.path.join(report_dir, 'confusion_matrices.png')
      plot_confusion_matrices(matrices, outcome['confusion_matrix_png'], test_split)
      lines.append(f'  confusion matrices (frame, subject): {outcome["confusion_matrix_png"]}')
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
  print('\n'.join(lines), flush=True)
  return outcome
