"""The Evaluator's gates and reports, built from the command line's thresholds.

Gates: overall accuracy, a recall floor per grade (one binarized MetricsSpec per
class, since a threshold applies to every class id in its spec), and no regression in
accuracy against the last blessed model. Reports: macro recall and F1, AUC and
precision per grade, a multi-class confusion matrix, all also sliced by source.
"""
from typing import Sequence

import tensorflow_model_analysis as tfma

from preprocessing.labels import GRADES, NUM_GRADES

LABEL_KEY = 'label'
PREDICTION_KEY = 'probabilities'


def class_recall_floors(values: Sequence[float]) -> list:
  """One value for every grade, or one per grade."""
  values = list(values)
  if len(values) == 1:
    return values * NUM_GRADES
  if len(values) != NUM_GRADES:
    raise ValueError(f'--min-class-recall takes 1 or {NUM_GRADES} values '
                     f'({", ".join(GRADES)}), got {len(values)}')
  return values


def _overall_only(threshold: tfma.MetricThreshold) -> list:
  """Gate on the overall slice only: a site slice may lack a grade (recall NaN)."""
  return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def build(min_accuracy: float, min_class_recall: Sequence[float]) -> tfma.EvalConfig:
  floors = class_recall_floors(min_class_recall)
  all_classes = tfma.BinarizationOptions(class_ids={'values': list(range(NUM_GRADES))})
  no_regression = tfma.GenericChangeThreshold(
      direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={'value': -1e-10})
  specs = [
      tfma.MetricsSpec(metrics=[
          tfma.MetricConfig(class_name='ExampleCount'),
          tfma.MetricConfig(class_name='SparseCategoricalAccuracy',
                            per_slice_thresholds=_overall_only(tfma.MetricThreshold(
                                value_threshold=tfma.GenericValueThreshold(
                                    lower_bound={'value': min_accuracy}),
                                change_threshold=no_regression))),
          tfma.MetricConfig(class_name='MultiClassConfusionMatrixPlot'),
      ]),
      tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name='Recall'),
                                tfma.MetricConfig(class_name='F1Score')],
                       aggregate=tfma.AggregationOptions(
                           macro_average=True,
                           class_weights={k: 1.0 for k in range(NUM_GRADES)})),
      tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name='AUC'),
                                tfma.MetricConfig(class_name='Precision')],
                       binarize=all_classes),
  ]
  for class_id, floor in enumerate(floors):
    specs.append(tfma.MetricsSpec(
        metrics=[tfma.MetricConfig(
            class_name='Recall', per_slice_thresholds=_overall_only(tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={'value': floor}))))],
        binarize=tfma.BinarizationOptions(class_ids={'values': [class_id]})))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name='serving_default', label_key=LABEL_KEY,
                                  prediction_key=PREDICTION_KEY)],
      slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=['source'])],
      metrics_specs=specs)
