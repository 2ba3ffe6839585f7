"""Every gate of the evaluation: its threshold, the candidate's value, and the verdict.

The thresholds are read from the EvalConfig that TFMA wrote beside its results, not
rebuilt from the pipeline's options: that config is what the Evaluator applied (TFX
drops the no-regression gates when no blessed baseline exists yet). The verdicts come
from TFMA's validation result, so the table cannot disagree with the blessing.
"""
from typing import Dict, List, NamedTuple, Optional

from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.writers import eval_config_writer

from components.evaluation import results, tables

PASSED, FAILED, NOT_CHECKED = 'passed', 'FAILED', 'not checked'
GATE_HEADER = ('metric', 'slice', 'required', 'candidate', 'verdict')


class Gate(NamedTuple):
  metric: str
  where: str
  required: str
  value: str
  verdict: str


def _slice_name(spec) -> str:
  """'overall', or 'source=meei'-style as TFMA's failures name slices."""
  if spec is None or not (spec.feature_keys or spec.feature_values):
    return 'overall'
  return ', '.join(list(spec.feature_keys) +
                   [f'{k}={v}' for k, v in sorted(spec.feature_values.items())])


def _matches(spec, where: str) -> bool:
  """Whether a failure on slice ``where`` belongs to a threshold on ``spec``."""
  if spec is None or not (spec.feature_keys or spec.feature_values):
    return where == 'overall'
  if where == 'overall':
    return False
  columns = dict(part.split('=', 1) for part in where.split(', '))
  return (all(k in columns for k in spec.feature_keys) and
          all(columns.get(k) == v for k, v in spec.feature_values.items()))


def gate_rows(eval_config, metrics: Dict[str, float], changes: Dict[str, float],
              failures: List[results.Failure]) -> List[Gate]:
  """One row per threshold on the candidate model, in the config's order.

  ``metrics`` and ``changes`` are the candidate's overall values and its differences
  from the baseline (``results.overall_metrics``); values on other slices are not
  tabulated here, though their verdicts are.
  """
  thresholds = metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs,
                                                                 eval_config)
  rows = []
  for key, slices_and_thresholds in thresholds.items():
    if key.model_name not in ('', 'candidate'):
      continue
    name = results.metric_name(key.to_proto())
    for spec, threshold in slices_and_thresholds:
      where = _slice_name(spec)
      values = changes if key.is_diff else metrics
      value = tables.format_value(values, name) if where == 'overall' else '–'
      failed = any(f.name == name and f.is_diff == key.is_diff and _matches(spec, f.where)
                   for f in failures)
      if failed:
        verdict = FAILED
      elif key.is_diff and name not in changes:
        verdict = NOT_CHECKED  # no blessed baseline to compare with
      else:
        verdict = PASSED
      rows.append(Gate(('change in ' if key.is_diff else '') + name, where,
                       results.requirement(threshold), value, verdict))
  return rows


def load_eval_config(evaluation_uri: str) -> Optional[config_pb2.EvalConfig]:
  """The EvalConfig TFMA applied, from ``eval_config.json`` in the evaluation."""
  return eval_config_writer.load_eval_run(evaluation_uri)[0]
