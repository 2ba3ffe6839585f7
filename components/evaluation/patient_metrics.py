"""Frame-, video- and subject-level grading metrics for TFMA, so the Evaluator can gate
on what clinicians judge: a grade per patient, not per frame.

``GradingMetric(level, measure)`` is a TFMA custom metric. Its combiner reads the
``video_id`` or ``subject_id`` feature of every example next to the label and the
softmax, pools each video's or subject's frame probabilities by their mean (the rule of
``components.evaluation.clinical_metrics.aggregate``), and scores the pooled grades with
``components.evaluation.clinical_metrics``: the grading measures and the calibration ones
(ECE, Brier score, NLL) alike. Being a TFMA metric, it is sliced (by source, say),
computed for the baseline model too, and gated by ordinary TFMA thresholds, value and
change alike, so one Evaluator and one blessing cover every level.

Subject-level values also get a 95% bootstrap confidence interval that resamples
subjects, never frames, emitted as ``<name>_ci_low`` and ``<name>_ci_high`` beside the
value. The frame and video levels report point values: their rows are not independent
(one subject gives many), so an interval over them would be falsely narrow.

Per-grade measures (``recall``, ``precision``, ``f1``) take their grade from the
MetricsSpec's ``binarize.class_ids``, as TFMA's own per-class metrics do.
"""
from typing import Any, Dict, Iterator, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from components.evaluation import clinical_metrics
from preprocessing import contract
from preprocessing.labels import NUM_GRADES

LEVELS = clinical_metrics.LEVELS
ID_FEATURES = {'video': contract.VIDEO_ID, 'subject': contract.SUBJECT_ID}
SCALAR_MEASURES = ('exact_accuracy', 'within_one_accuracy', 'mae',
                   'quadratic_weighted_kappa', 'balanced_accuracy', 'macro_f1',
                   ) + clinical_metrics.CALIBRATION_MEASURES + ('count',)
PER_GRADE_MEASURES = ('recall', 'precision', 'f1')
CONFUSION_MATRIX = 'confusion_matrix'
MEASURES = SCALAR_MEASURES + PER_GRADE_MEASURES + (CONFUSION_MATRIX,)
CI_LEVEL = 'subject'
NUM_RESAMPLES = 2000


def metric_name(level: str, measure: str) -> str:
  return f'{level}_{measure}'


class GradingMetric(metric_types.Metric):
  """One measure at one level, e.g. ``GradingMetric('subject', 'balanced_accuracy')``.

  In an EvalConfig: ``MetricConfig(class_name='GradingMetric',
  module='components.evaluation.patient_metrics', config='"level": "subject", "measure": "mae"')``.
  """

  def __init__(self, level: str = 'subject', measure: str = 'balanced_accuracy',
               name: Optional[str] = None):
    if level not in LEVELS:
      raise ValueError(f'level must be one of {LEVELS}, got {level!r}')
    if measure not in MEASURES:
      raise ValueError(f'measure must be one of {MEASURES}, got {measure!r}')
    super().__init__(metric_util.merge_per_key_computations(_computations),
                     level=level, measure=measure, name=name or metric_name(level, measure))


def _computations(name: str, level: str, measure: str, eval_config=None,
                  model_name: str = '', output_name: str = '',
                  sub_key: Optional[metric_types.SubKey] = None,
                  example_weighted: bool = False) -> metric_types.MetricComputations:
  per_grade = measure in PER_GRADE_MEASURES
  if per_grade != (sub_key is not None and sub_key.class_id is not None):
    raise ValueError(f'{name}: per-grade measures ({", ".join(PER_GRADE_MEASURES)}) need, '
                     'and only they take, a MetricsSpec with binarize.class_ids')
  def private_key(prefix):
    return metric_types.MetricKey(name=f'_{prefix}_{level}', model_name=model_name,
                                  output_name=output_name, example_weighted=example_weighted)
  rows_key, scores_key = private_key('grading_rows'), private_key('grading_scores')
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                               sub_key=sub_key, example_weighted=example_weighted)
  with_ci = level == CI_LEVEL and measure not in ('count', CONFUSION_MATRIX)
  keys = [key]
  if with_ci:
    keys += [key._replace(name=f'{name}_ci_low'), key._replace(name=f'{name}_ci_high')]

  def scores(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
    if scores_key in metrics:
      return {}  # another measure of this level already scored it
    if level == CI_LEVEL:
      labels, probs = metrics[rows_key]
      result = clinical_metrics.summarise(labels, probs, NUM_RESAMPLES)
      result['count'] = {'value': result['count']}
      return {scores_key: result}
    if level == 'frame':
      cm, sums = metrics[rows_key]
      calibration = clinical_metrics.calibration_from_sums(sums)
    else:
      labels, probs = metrics[rows_key]
      cm = clinical_metrics.confusion_matrix(labels, np.argmax(probs, axis=1))
      calibration = clinical_metrics.calibration(labels, probs)
    measures = {**clinical_metrics.measures_from_confusion(cm), **calibration}
    return {scores_key: {CONFUSION_MATRIX: cm,
                         **{m: {'value': v} for m, v in measures.items()}}}

  def pick(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
    result = metrics[scores_key]
    if measure == CONFUSION_MATRIX:
      return {key: np.asarray(result[CONFUSION_MATRIX], dtype=np.float64)}
    entry = result[measure]
    fields = ('value', 'ci_low', 'ci_high') if with_ci else ('value',)
    values = [entry[f] for f in fields]
    if per_grade:
      values = [v[sub_key.class_id] for v in values]
    return {k: float(v) for k, v in zip(keys, values)}

  return [
      metric_types.MetricComputation(
          keys=[rows_key],
          preprocessors=([metric_types.FeaturePreprocessor([ID_FEATURES[level]])]
                         if level in ID_FEATURES else None),
          combiner=_GradingRowsCombiner(rows_key, level, eval_config)),
      metric_types.DerivedMetricComputation(keys=[scores_key], result=scores),
      metric_types.DerivedMetricComputation(keys=keys, result=pick),
  ]


def entity_id(element, level: str):
  value = element.features[ID_FEATURES[level]]
  value = value.item() if isinstance(value, np.ndarray) and value.size == 1 else value
  if isinstance(value, (list, np.ndarray)):
    raise ValueError(f'feature {ID_FEATURES[level]} must hold one value per example, got '
                     f'{value!r}')
  return value


def model_outputs(element: metric_types.StandardMetricInputs, model_name: str):
  """The signature's whole output dict of one example (TFMA keys it by model name when
  it evaluates a candidate beside a baseline); None when the model returns one tensor."""
  outputs = element.predictions
  if model_name and isinstance(outputs, dict) and model_name in outputs:
    outputs = outputs[model_name]
  return outputs if isinstance(outputs, dict) else None


def graded_rows(element: metric_types.StandardMetricInputs, key: metric_types.MetricKey,
                eval_config) -> Iterator[Tuple[int, np.ndarray]]:
  """(true grade, the six probabilities) of each of ``element``'s rows for ``key``'s
  model and output, checked to be six."""
  for label, prediction, _ in metric_util.to_label_prediction_example_weight(
      element, eval_config=eval_config, model_name=key.model_name,
      output_name=key.output_name, flatten=False):
    probs = np.asarray(prediction, np.float64).reshape(-1)
    if probs.shape != (NUM_GRADES,):
      raise ValueError(f'expected {NUM_GRADES} grade probabilities per example, got '
                       f'shape {probs.shape}')
    yield int(np.asarray(label).reshape(-1)[0]), probs


class _GradingRowsCombiner(beam.CombineFn):
  """Collects the frames' grades: pooled per video or subject, or counted per frame.

  The accumulator for a pooled level maps (entity id, true grade) to the sum of the
  probabilities and the number of frames, so it merges across Beam workers and its
  size grows with the number of subjects, not of frames. The frame level keeps a
  confusion matrix of argmax grades and the calibration sums per confidence bin
  (``clinical_metrics.CalibrationSums``), both of fixed size and merged by addition.
  """

  def __init__(self, key: metric_types.MetricKey, level: str, eval_config):
    self._key = key
    self._level = level
    self._eval_config = eval_config

  def create_accumulator(self):
    if self._level == 'frame':
      return (np.zeros((NUM_GRADES, NUM_GRADES), np.int64),
              clinical_metrics.calibration_sums([], []))
    return {}

  def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
    for grade, probs in graded_rows(element, self._key, self._eval_config):
      if self._level == 'frame':
        cm, sums = accumulator
        cm[grade, int(np.argmax(probs))] += 1
        accumulator = (cm, sums.merged(clinical_metrics.calibration_sums([grade], [probs])))
      else:
        entry = accumulator.setdefault((entity_id(element, self._level), grade),
                                       [np.zeros(NUM_GRADES), 0])
        entry[0] += probs
        entry[1] += 1
    return accumulator

  def merge_accumulators(self, accumulators):
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for acc in accumulators:
      if self._level == 'frame':
        merged = (merged[0] + acc[0], merged[1].merged(acc[1]))
        continue
      for k, (total, n) in acc.items():
        entry = merged.setdefault(k, [np.zeros(NUM_GRADES), 0])
        entry[0] += total
        entry[1] += n
    return merged

  def extract_output(self, accumulator):
    if self._level == 'frame':
      return {self._key: accumulator}
    items = sorted(accumulator.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    labels = np.array([grade for (_, grade), _ in items], np.int64)
    probs = np.array([total / n for _, (total, n) in items]).reshape(-1, NUM_GRADES)
    return {self._key: (labels, probs)}
