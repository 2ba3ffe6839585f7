"""The one reader of the Evaluator's output: which thresholds the candidate missed, its
metrics on the overall slice, and its confusion matrices at frame, video and subject level.

The run summary (``pipeline/runners/summary.py``), the evidence report and the model card
all read TFMA's results through here, so a metric is named and a failure worded one way.
TFMA loads inside the functions: the command line imports this without TensorFlow.
"""
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from components.evaluation.clinical_metrics import LEVELS
from preprocessing.labels import GRADES


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
  if threshold.HasField('upper_bound'):
    return f'<= {threshold.upper_bound.value:g}'
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
