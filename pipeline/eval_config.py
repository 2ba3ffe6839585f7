"""The Evaluator's metrics and gates, frame and subject level, built from ``Gates``.

Every per-grade recall, precision and F1 is that of the *predicted* grade (the argmax),
computed by ``components.evaluation.patient_metrics.GradingMetric`` at frame, video and subject level
(a video's or subject's frames are pooled by the mean of their probabilities).

TFMA's own per-class metrics are not used for them. Binarized alone they threshold each
grade's probability at 0.5, which a six-way softmax seldom reaches (recall 0 for a model
that is right). With ``top_k: 1`` TFMA 0.47 computes the argmax recall, but keys it with a
``top_k`` sub-key that its thresholds never carry ("Metric not found"), and reads recall
1.0 for a grade the model never predicts (found by the full-pipeline test). TFMA gives
the overall accuracy (a cross-check of ours) and the per-grade one-vs-rest AUC.

Grades absent from the manifest get no per-grade metric and no gate: their recall is
undefined, and a gate on it could never pass.

Calibration (ECE, Brier score, NLL) is measured at every level by the same metric, and at
frame level also before the Trainer's temperature (``uncalibrated_metric``). The
referral rule is measured at subject level by ``referral_metric.ReferralMetric``: the
coverage and the accuracy among the subjects it accepts.

Gates (overall slice only: a site slice may lack a grade): frame accuracy, frame recall
per grade, subject balanced accuracy, subject within-one accuracy, subject recall per
grade, optionally a ceiling on the frame-level ECE (``--max-ece``: frames are where there
are enough items to fill ten bins), and no regression beyond a tolerance in frame accuracy and subject balanced
accuracy against the last blessed model; optionally floors on the referral rule's subject
coverage (``--min-coverage``) and within-one accuracy among the accepted
(``--min-accepted-within-one``).
"""
from typing import Optional, Sequence

import tensorflow_model_analysis as tfma

from components.evaluation import patient_metrics, referral_metric, uncalibrated_metric
from pipeline.options import Gates
from preprocessing import contract
from preprocessing.labels import NUM_GRADES

LABEL_KEY = contract.LABEL
PREDICTION_KEY = contract.OUTPUT_PROBABILITIES
_GRADING_MODULE = patient_metrics.__name__


def _overall(value_floor: Optional[float] = None, tolerance: Optional[float] = None,
             value_ceiling: Optional[float] = None) -> list:
  """Per-slice thresholds on the overall slice only; a ceiling passes at value <= it."""
  threshold = tfma.MetricThreshold()
  if value_floor is not None:
    threshold.value_threshold.lower_bound.value = value_floor
  if value_ceiling is not None:
    threshold.value_threshold.upper_bound.value = value_ceiling
  if tolerance is not None:
    threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
    threshold.change_threshold.absolute.value = -tolerance
  return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                       threshold=threshold)]


def _grading(level: str, measure: str, **thresholds) -> tfma.MetricConfig:
  config = tfma.MetricConfig(class_name='GradingMetric', module=_GRADING_MODULE,
                             config=f'"level": "{level}", "measure": "{measure}"')
  if thresholds:
    config.per_slice_thresholds.extend(_overall(**thresholds))
  return config


def _one_grade(grade: int) -> tfma.BinarizationOptions:
  return tfma.BinarizationOptions(class_ids={'values': [grade]})


def build(gates: Gates, grades: Optional[Sequence[int]] = None) -> tfma.EvalConfig:
  """``grades``: the grade ids present in the manifest (default: all six)."""
  grades = sorted(set(range(NUM_GRADES) if grades is None else grades))
  gated = {'frame': {'ece': dict(value_ceiling=gates.max_ece)},
           'subject': {'balanced_accuracy': dict(value_floor=gates.min_subject_balanced_accuracy,
                                                 tolerance=gates.regression_tolerance),
                       'within_one_accuracy': dict(value_floor=gates.min_subject_within_one)}}
  overall = [
      tfma.MetricConfig(class_name='ExampleCount'),
      tfma.MetricConfig(class_name='SparseCategoricalAccuracy',
                        per_slice_thresholds=_overall(gates.min_accuracy,
                                                      gates.regression_tolerance)),
  ]
  for level in patient_metrics.LEVELS:
    for measure in patient_metrics.SCALAR_MEASURES + (patient_metrics.CONFUSION_MATRIX,):
      overall.append(_grading(level, measure, **gated.get(level, {}).get(measure, {})))
  for measure in uncalibrated_metric.MEASURES:
    overall.append(tfma.MetricConfig(class_name='UncalibratedMetric',
                                     module=uncalibrated_metric.__name__,
                                     config=f'"measure": "{measure}"'))
  referral_floors = {'coverage': gates.min_coverage,
                     'accepted_within_one_accuracy': gates.min_accepted_within_one}
  for measure in referral_metric.MEASURES:
    config = tfma.MetricConfig(class_name='ReferralMetric', module=referral_metric.__name__,
                               config=f'"measure": "{measure}"')
    if referral_floors.get(measure) is not None:
      config.per_slice_thresholds.extend(_overall(value_floor=referral_floors[measure]))
    overall.append(config)
  specs = [tfma.MetricsSpec(metrics=overall)]
  for grade in grades:
    frame_floor = gates.min_class_recall[grade]
    subject_floor = gates.min_subject_class_recall[grade]
    specs.append(tfma.MetricsSpec(binarize=_one_grade(grade), metrics=[
        tfma.MetricConfig(class_name='AUC'),  # one-vs-rest on the grade's probability
        _grading('frame', 'recall', value_floor=frame_floor),
        _grading('frame', 'precision'),
        _grading('frame', 'f1'),
        _grading('video', 'recall'),
        _grading('subject', 'recall', value_floor=subject_floor),
        _grading('subject', 'precision'),
        _grading('subject', 'f1'),
    ]))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name=contract.SERVING_DEFAULT, label_key=LABEL_KEY,
                                  prediction_key=PREDICTION_KEY)],
      slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[contract.SOURCE])],
      metrics_specs=specs)
