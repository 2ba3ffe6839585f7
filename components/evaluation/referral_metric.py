"""The referral rule measured by the Evaluator, as a TFMA metric, so it can be gated.

``ReferralMetric(measure)`` pools each test subject's frames (per subject and grade, as
``clinical_metrics.aggregate``), applies the referral rule of the model being evaluated
(``preprocessing.referral.reasons``), and reports one of ``referral_metrics.MEASURES``:
the coverage (the share of subjects not referred), or the exact or within-one accuracy
among the accepted, each with its bootstrap interval over subjects
(``<name>_ci_low``/``_ci_high``), as every subject measure has.

The rule's thresholds are the model's: its ``serving_default`` returns them on every row
(``contract.OUTPUT_REFERRAL_RULES``), with each frame's ``ood_score``, so the baseline
and the candidate are each judged by their own rule. A model exported before the rule
(a last blessed baseline, say) has neither output and is judged by the default rule
without a guard, which refers no test subject: its coverage is 1. The accumulator holds, per subject
and grade, the sum of the probabilities, the frame count and the count over the guard's
threshold: it grows with the subjects, not the frames, and merges across workers.
"""
from typing import Any, Dict, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from components.evaluation import referral_metrics
from components.evaluation.patient_metrics import (ID_FEATURES, NUM_RESAMPLES, entity_id,
                                                  graded_rows, model_outputs)
from preprocessing import contract, referral
from preprocessing.labels import NUM_GRADES

MEASURES = referral_metrics.MEASURES
LEVEL = 'subject'


def metric_name(measure: str) -> str:
  return f'{LEVEL}_{measure}'


class ReferralMetric(metric_types.Metric):
  """In an EvalConfig: ``MetricConfig(class_name='ReferralMetric',
  module='components.evaluation.referral_metric', config='"measure": "coverage"')``."""

  def __init__(self, measure: str = 'coverage', name: Optional[str] = None):
    if measure not in MEASURES:
      raise ValueError(f'measure must be one of {MEASURES}, got {measure!r}')
    super().__init__(metric_util.merge_per_key_computations(_computations),
                     measure=measure, name=name or metric_name(measure))


def _computations(name: str, measure: str, eval_config=None, model_name: str = '',
                  output_name: str = '', example_weighted: bool = False
                  ) -> metric_types.MetricComputations:
  rows_key = metric_types.MetricKey(name='_referral_rows', model_name=model_name,
                                    output_name=output_name,
                                    example_weighted=example_weighted)
  scores_key = rows_key._replace(name='_referral_scores')
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                               example_weighted=example_weighted)
  keys = [key, key._replace(name=f'{name}_ci_low'), key._replace(name=f'{name}_ci_high')]

  def scores(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
    if scores_key in metrics:
      return {}  # another measure already scored them
    labels, pooled, referred = metrics[rows_key]
    return {scores_key: referral_metrics.summarise(labels, pooled, referred, NUM_RESAMPLES)}

  def pick(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
    entry = metrics[scores_key][measure]
    return {k: float(entry[f]) for k, f in zip(keys, ('value', 'ci_low', 'ci_high'))}

  return [
      metric_types.MetricComputation(
          keys=[rows_key],
          preprocessors=[metric_types.FeaturePreprocessor([ID_FEATURES[LEVEL]])],
          combiner=_ReferralRowsCombiner(rows_key, eval_config)),
      metric_types.DerivedMetricComputation(keys=[scores_key], result=scores),
      metric_types.DerivedMetricComputation(keys=keys, result=pick),
  ]


def guard_outputs(element: metric_types.StandardMetricInputs, model_name: str):
  """(ood score, rules row) of one example from the signature's whole output dict (TFMA
  keys it by model name when it evaluates a candidate beside a baseline); (NaN, the
  default rules' row) for a model without them."""
  outputs = model_outputs(element, model_name)
  if outputs is None or contract.OUTPUT_REFERRAL_RULES not in outputs:
    return float('nan'), np.asarray(referral.Rules().as_row())
  ood = np.asarray(outputs.get(contract.OUTPUT_OOD_SCORE, np.nan), np.float64).reshape(-1)
  rules = np.asarray(outputs[contract.OUTPUT_REFERRAL_RULES], np.float64).reshape(-1)
  return float(ood[0]), rules[:len(contract.REFERRAL_RULE_FIELDS)]


class _ReferralRowsCombiner(beam.CombineFn):
  """(subject id, grade) -> [sum of probabilities, frames, frames over the threshold],
  and the model's rules (the same on every row)."""

  def __init__(self, key: metric_types.MetricKey, eval_config):
    self._key = key
    self._eval_config = eval_config

  def create_accumulator(self):
    return [{}, None]

  def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
    ood, rules = guard_outputs(element, self._key.model_name)
    subject = entity_id(element, LEVEL)
    for grade, probs in graded_rows(element, self._key, self._eval_config):
      accumulator[1] = rules
      entry = accumulator[0].setdefault((subject, grade), [np.zeros(NUM_GRADES), 0, 0])
      entry[0] += probs
      entry[1] += 1
      entry[2] += int(not np.isnan(rules[0]) and ood > rules[0])
    return accumulator

  def merge_accumulators(self, accumulators):
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for rows, rules in accumulators:
      merged[1] = rules if merged[1] is None else merged[1]
      for k, (total, n, over) in rows.items():
        entry = merged[0].setdefault(k, [np.zeros(NUM_GRADES), 0, 0])
        entry[0] += total
        entry[1] += n
        entry[2] += over
    return merged

  def extract_output(self, accumulator):
    rows, row = accumulator
    rules = referral.Rules() if row is None else referral.Rules.from_row(row)
    items = sorted(rows.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    labels = np.array([grade for (_, grade), _ in items], np.int64)
    pooled = np.array([total / n for _, (total, n, _) in items]).reshape(-1, NUM_GRADES)
    frames = np.array([n for _, (_, n, _) in items])
    over = np.array([o for _, (_, _, o) in items])
    referred = referral_metrics.referred(pooled, frames, over, rules)
    return {self._key: (labels, pooled, referred)}
