"""The network's own calibration before temperature scaling, measured by the Evaluator
beside the calibrated one, so the run summary and the model card can say what the
Trainer's ``T`` did on the test split: ECE, Brier score and NLL of ``softmax(logits)``.

``UncalibratedMetric(measure)`` reads the ``logits`` output of ``serving_default``
(``contract.OUTPUT_LOGITS``; the served ``probabilities`` are ``softmax(logits / T)``) and
emits ``frame_<measure>_uncalibrated``. Frames only: they are where the Trainer fitted
``T`` and where there are enough items to fill ten bins; the calibrated measures at every
level are ``patient_metrics.GradingMetric``'s. The accumulator is the fixed-size
``clinical_metrics.CalibrationSums``, merged by addition. A model without ``logits`` (one
exported before calibration) gets NaN, shown as n/a.
"""
from typing import Any, Dict, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from components.evaluation import clinical_metrics
from components.evaluation.patient_metrics import graded_rows, model_outputs
from preprocessing import contract

MEASURES = clinical_metrics.CALIBRATION_MEASURES


def metric_name(measure: str) -> str:
  return f'frame_{measure}_uncalibrated'


class UncalibratedMetric(metric_types.Metric):
  """In an EvalConfig: ``MetricConfig(class_name='UncalibratedMetric',
  module='components.evaluation.uncalibrated_metric', config='"measure": "ece"')``."""

  def __init__(self, measure: str = 'ece', name: Optional[str] = None):
    if measure not in MEASURES:
      raise ValueError(f'measure must be one of {MEASURES}, got {measure!r}')
    super().__init__(metric_util.merge_per_key_computations(_computations),
                     measure=measure, name=name or metric_name(measure))


def _computations(name: str, measure: str, eval_config=None, model_name: str = '',
                  output_name: str = '', example_weighted: bool = False
                  ) -> metric_types.MetricComputations:
  sums_key = metric_types.MetricKey(name='_uncalibrated_sums', model_name=model_name,
                                    output_name=output_name,
                                    example_weighted=example_weighted)
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                               example_weighted=example_weighted)

  def pick(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
    return {key: float(clinical_metrics.calibration_from_sums(metrics[sums_key])[measure])}

  return [
      metric_types.MetricComputation(keys=[sums_key], preprocessors=None,
                                     combiner=_SumsCombiner(sums_key, eval_config)),
      metric_types.DerivedMetricComputation(keys=[key], result=pick),
  ]


def own_probabilities(element: metric_types.StandardMetricInputs, model_name: str):
  """``softmax(logits)`` of one example from the signature's whole output dict (keyed by
  model name beside a baseline); None for a model without ``logits``."""
  outputs = model_outputs(element, model_name)
  if outputs is None or contract.OUTPUT_LOGITS not in outputs:
    return None
  return clinical_metrics.softmax(np.asarray(outputs[contract.OUTPUT_LOGITS]).reshape(-1))


class _SumsCombiner(beam.CombineFn):
  """The calibration sums of the frames' own probabilities (none for a model without
  ``logits``, whose measures are then NaN)."""

  def __init__(self, key: metric_types.MetricKey, eval_config):
    self._key = key
    self._eval_config = eval_config

  def create_accumulator(self):
    return clinical_metrics.calibration_sums([], [])

  def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
    probs = own_probabilities(element, self._key.model_name)
    if probs is None:
      return accumulator
    for grade, _ in graded_rows(element, self._key, self._eval_config):
      accumulator = accumulator.merged(clinical_metrics.calibration_sums([grade], [probs]))
    return accumulator

  def merge_accumulators(self, accumulators):
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for acc in accumulators:
      merged = merged.merged(acc)
    return merged

  def extract_output(self, accumulator):
    return {self._key: accumulator}
