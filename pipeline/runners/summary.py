"""The run summary: read one finished run's outputs back from MLMD and print what a person
wants to know after ``palsy-tfx run``: the data, whether the model was blessed (and if
not, which thresholds failed), the grading metrics at frame, video and subject level with
their confidence intervals, whether the ServingCheck passed it (and if not, why), where
the model was pushed, and where the run's evidence report is.

Only the artifacts that *this* run produced (or took from the cache) are read: the
outputs of the executions in the run's ``pipeline_run`` context. The newest artifact of
each type would let a ``--stop-after ingest`` run show the blessing of an earlier run.
"""
import os

from ml_metadata.proto import metadata_store_pb2

from components.evaluation import results, tables
from components.serving_check.check import REPORT_FILE as SERVING_CHECK_REPORT
from components.evidence_report.headline import (CONFUSION_PNG, REPORT_FILE, REPORT_TYPE,
                                                 read_headline)
from components.video_ingest.summary import describe_test_split, format_summary, read_summary
from pipeline.runners.artifacts import run_artifacts


def summarize(config: metadata_store_pb2.ConnectionConfig) -> dict:
  """Print the run's outcome; return {'blessed', 'failed_thresholds', 'pushed_to',
  'report', ...}."""
  artifacts = run_artifacts(config)
  lines, outcome = [], {}
  summary = None
  if 'Examples' in artifacts:
    summary = read_summary(artifacts['Examples'].uri)
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
    outcome['failed_thresholds'] = results.failed_thresholds(uri)
    metrics = results.overall_metrics(uri)
    outcome['metrics'] = metrics
    lines.append(f'\nEvaluation on the test split ({describe_test_split(summary)}):')
    matrices = results.confusion_matrices(uri)
    lines.append(tables.metrics_table(metrics, matrices.get('subject')))
    outcome['confusion_matrices'] = {k: v.tolist() for k, v in matrices.items()}
    if blessed:
      lines.append('Model BLESSED: it met every threshold.')
    else:
      lines.append('Model NOT blessed; failed thresholds:')
      lines.extend(f'  - {line}' for line in outcome['failed_thresholds'])
  if 'InfraBlessing' in artifacts:  # the ServingCheck's (components/serving_check)
    infra = artifacts['InfraBlessing']
    passed = bool(infra.custom_properties['blessed'].int_value)
    reason = infra.custom_properties['reason'].string_value
    outcome['serving_check'] = {'passed': passed, 'reason': reason,
                                'report': os.path.join(infra.uri, SERVING_CHECK_REPORT)}
    lines.append('Serving check PASSED: loads in a fresh process, answers its warmup requests '
                 "as the Trainer did, within the latency limits" if passed else
                 f'Serving check REFUSED: {reason}')
    lines.append(f'  details: {outcome["serving_check"]["report"]}')
  if 'PushedModel' in artifacts:
    pushed = artifacts['PushedModel'].custom_properties
    if pushed['pushed'].int_value:
      outcome['pushed_to'] = pushed['pushed_destination'].string_value
      lines.append(f'Pushed for TF Serving: {outcome["pushed_to"]}')
    elif outcome.get('blessed') and not outcome.get('serving_check', {}).get('passed', True):
      lines.append('Nothing pushed (the serving check refused the model).')
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
