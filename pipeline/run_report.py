"""Read a finished run's outputs back from MLMD and say what a person wants to know:
the data, whether the model was blessed (and if not, which thresholds failed), the
per-grade metrics, and where the model was pushed. Also draws the confusion matrix.
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


def latest_artifacts(config: metadata_store_pb2.ConnectionConfig) -> Dict[str, object]:
  """The newest artifact of each type, keyed by type name."""
  store = metadata_store.MetadataStore(config)
  latest = {}
  for artifact_type in store.get_artifact_types():
    artifacts = store.get_artifacts_by_type(artifact_type.name)
    if artifacts:
      latest[artifact_type.name] = max(artifacts, key=lambda a: a.id)
  return latest


def ingest_summary(examples_uri: str) -> Optional[dict]:
  path = os.path.join(examples_uri, SUMMARY_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _metric_name(key) -> str:
  name = key.name
  if key.HasField('sub_key') and key.sub_key.HasField('class_id'):
    grade = GRADES[key.sub_key.class_id.value]
    name = f'{name}[{grade}]'
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
        bound = 'no regression against the last blessed model'
      elif threshold.value_threshold.HasField('lower_bound'):
        bound = f'>= {threshold.value_threshold.lower_bound.value:g}'
      else:
        bound = str(threshold).replace('\n', ' ')
      lines.append(f'{_metric_name(failure.metric_key)} ({where}) = '
                   f'{failure.metric_value.double_value.value:.3f}, required {bound}')
  for missing in result.missing_slices:
    lines.append(f'slice missing from the evaluation data: {missing}')
  return lines


def overall_metrics(evaluation_uri: str) -> Dict[str, float]:
  """Candidate metrics on the overall slice, named like 'recall[severe]'."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  out = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    if per_slice.slice_key.single_slice_keys:
      continue
    for kv in per_slice.metric_keys_and_values:
      if kv.key.is_diff or kv.key.model_name not in ('', 'candidate'):
        continue
      if kv.value.HasField('double_value'):
        out[_metric_name(kv.key)] = kv.value.double_value.value
  return out


def confusion_matrix(evaluation_uri: str) -> Optional[np.ndarray]:
  """Counts [actual, predicted] over the six grades (argmax), overall slice."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  for per_slice in tfma.load_plots(evaluation_uri):
    if per_slice.slice_key.single_slice_keys:
      continue
    for kv in per_slice.plot_keys_and_values:
      if kv.key.model_name not in ('', 'candidate'):
        continue
      if kv.value.HasField('multi_class_confusion_matrix_at_thresholds'):
        matrix = np.zeros((len(GRADES), len(GRADES)))
        for m in kv.value.multi_class_confusion_matrix_at_thresholds.matrices[:1]:
          for e in m.entries:
            if 0 <= e.predicted_class_id < len(GRADES):
              matrix[e.actual_class_id, e.predicted_class_id] += e.num_weighted_examples
        return matrix
  return None


def plot_confusion_matrix(matrix: np.ndarray, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 5))
  im = ax.imshow(matrix, cmap='Blues')
  ax.set_xticks(range(len(GRADES)), GRADES, rotation=45, ha='right')
  ax.set_yticks(range(len(GRADES)), GRADES)
  ax.set_xlabel('predicted grade')
  ax.set_ylabel('true grade')
  ax.set_title('Test split (held-out subjects)')
  for i in range(len(GRADES)):
    for j in range(len(GRADES)):
      ax.text(j, i, int(matrix[i, j]), ha='center', va='center',
              color='white' if matrix[i, j] > matrix.max() / 2 else 'black')
  fig.colorbar(im)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def grade_table(metrics: Dict[str, float]) -> str:
  rows = [f'  {"grade":12s} {"recall":>7s} {"precision":>9s} {"AUC":>6s}']
  for grade in GRADES:
    cells = [metrics.get(f'{m}[{grade}]') for m in ('recall', 'precision', 'auc')]
    rows.append(f'  {grade:12s} ' + ' '.join(
        f'{v:{w}.3f}' if v is not None else f'{"-":>{w}s}' for v, w in zip(cells, (7, 9, 6))))
  return '\n'.join(rows)


def report(config: metadata_store_pb2.ConnectionConfig, report_dir: str) -> dict:
  """Print the run's outcome; return {'blessed', 'failed_thresholds', 'pushed_to', ...}."""
  latest = latest_artifacts(config)
  lines, outcome = [], {}
  if 'Examples' in latest:
    summary = ingest_summary(latest['Examples'].uri)
    lines.append(f'Examples: {latest["Examples"].uri}')
    if summary:
      lines.append(format_summary(summary))
  for name, label in (('ExampleStatistics', 'Statistics'), ('Schema', 'Schema'),
                      ('ExampleAnomalies', 'Anomalies'), ('ModelRun', 'Training logs')):
    if name in latest:
      lines.append(f'{label}: {latest[name].uri}')
  if 'ModelEvaluation' in latest:
    uri = latest['ModelEvaluation'].uri
    blessed = bool(latest['ModelBlessing'].custom_properties['blessed'].int_value)
    outcome['blessed'] = blessed
    outcome['failed_thresholds'] = failed_thresholds(uri)
    metrics = overall_metrics(uri)
    outcome['metrics'] = metrics
    lines.append('\nEvaluation on the test split (subjects never seen in training):')
    for key in ('sparse_categorical_accuracy', 'macro_recall', 'macro_f1_score',
                'example_count'):
      if key in metrics:
        lines.append(f'  {key}: {metrics[key]:.3f}')
    lines.append(grade_table(metrics))
    matrix = confusion_matrix(uri)
    if matrix is not None:
      os.makedirs(report_dir, exist_ok=True)
      outcome['confusion_matrix_png'] = os.path.join(report_dir, 'confusion_matrix.png')
      plot_confusion_matrix(matrix, outcome['confusion_matrix_png'])
      lines.append(f'  confusion matrix: {outcome["confusion_matrix_png"]}')
    if blessed:
      lines.append('Model BLESSED: it met every threshold.')
    else:
      lines.append('Model NOT blessed; failed thresholds:')
      lines.extend(f'  - {line}' for line in outcome['failed_thresholds'])
  if 'PushedModel' in latest:
    pushed = latest['PushedModel'].custom_properties
    if pushed['pushed'].int_value:
      outcome['pushed_to'] = pushed['pushed_destination'].string_value
      lines.append(f'Pushed for TF Serving: {outcome["pushed_to"]}')
    else:
      lines.append('Nothing pushed (model not blessed).')
  print('\n'.join(lines), flush=True)
  return outcome
