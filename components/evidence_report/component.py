"""The EvidenceReporter TFX component: spec, executor and component class.

It runs after the Evaluator, blessed or not, and writes one self-contained HTML page
(``report.html``, images embedded) with its PNGs beside it, and ``headline.json``, as
an ``EvidenceReport`` artifact: a pipeline output, so it exists on Kubeflow as it does
locally. Where the pipeline has a Pusher it takes the Pusher's output too, so that it
runs after the Pusher and says where the model went; the Pusher never waits for it.
Without one (``stop_after='evaluate'``, as every frame-split run) it says nothing was
pushed.

It is a Beam component: it grades the evaluated split again with ``RunInference``
(``inference.py``) on the runner that the pipeline's ``beam_pipeline_args`` choose, as
ingest, StatisticsGen and the Evaluator do.
"""
import json
import os
import sys
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.types import artifact, artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import path_utils

from components.evaluation import judgement, referral_metrics, tuning
from components.evidence_report import (headline, inference, plots, predictions, reliability,
                                        roc, sections)
from components.evidence_report import statistics as statistics_lib
from components.video_ingest.summary import describe_test_split, read_summary
from preprocessing import crop_settings, referral
from preprocessing.labels import GRADES

EXAMPLES_KEY = 'examples'
STATISTICS_KEY = 'statistics'
MODEL_KEY = 'model'
MODEL_RUN_KEY = 'model_run'
EVALUATION_KEY = 'evaluation'
BLESSING_KEY = 'blessing'
PUSHED_MODEL_KEY = 'pushed_model'
TUNER_RESULTS_KEY = 'tuner_results'  # the Tuner's trials, with --tune
REPORT_KEY = 'report'
SPLIT_KEY = 'split'  # the split the Evaluator judged
ROC_PNG = 'roc_curves.png'
TRAINING_PNG = 'training_curves.png'
RELIABILITY_PNG = 'reliability_diagram.png'
_FRAMES_DIR = '_frames'  # the predictions' rows while the report is made, then removed


class EvidenceReport(artifact.Artifact):
  """A directory with report.html, its PNGs and headline.json."""
  TYPE_NAME = headline.REPORT_TYPE


class EvidenceReporterSpec(types.ComponentSpec):
  PARAMETERS = {SPLIT_KEY: ExecutionParameter(type=str)}
  INPUTS = {
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
      MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
      EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
      BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
      PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel, optional=True),
      TUNER_RESULTS_KEY: ChannelParameter(type=standard_artifacts.TunerResults, optional=True),
  }
  OUTPUTS = {REPORT_KEY: ChannelParameter(type=EvidenceReport)}


def _read_bytes(path: str):
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path, 'rb') as f:
    return f.read()


def _write(path: str, content, mode: str = 'w') -> None:
  with tf.io.gfile.GFile(path, mode) as f:
    f.write(content)


def _pushed_to(pushed: List[types.Artifact]):
  if not pushed or not pushed[0].get_int_custom_property('pushed'):
    return None
  return pushed[0].get_string_custom_property('pushed_destination')


def _model_info(model_uri: str) -> dict:
  """The model's ``palsy_model.json`` ({} for a model without it)."""
  info = _read_bytes(os.path.join(path_utils.serving_model_path(model_uri),
                                  crop_settings.MODEL_INFO_FILE))
  return json.loads(info) if info else {}


def _temperature(info: dict):
  """The calibration temperature the Trainer recorded, or None (a model from before
  temperature scaling, or one without the record)."""
  return (info.get('calibration') or {}).get('temperature')


def gather(input_dict: Dict[str, List[types.Artifact]], split: str,
           frames: predictions.Frames) -> sections.Evidence:
  """Read the run's artifacts; ``frames`` are the model's predictions on ``split``."""
  def single(key):
    return artifact_utils.get_single_instance(input_dict[key])

  examples, evaluation, stats_artifact = (single(EXAMPLES_KEY), single(EVALUATION_KEY),
                                          single(STATISTICS_KEY))
  stats = {name: stats_artifact_utils.load_statistics(stats_artifact, name).proto()
           for name in artifact_utils.decode_split_names(stats_artifact.split_names)}
  curves = {grade: curve for g, grade in enumerate(GRADES)
            if (curve := roc.roc_curve(frames.labels == g, frames.probabilities[:, g]))}
  calibration = reliability.curves(frames)
  info = _model_info(single(MODEL_KEY).uri)
  rules = referral.Rules.from_model(info)
  referral_labels, pooled, referred = referral_metrics.subject_referrals(
      frames.subjects, frames.labels, frames.probabilities, frames.ood_scores, rules)
  referred_summary = referral_metrics.summarise(referral_labels, pooled, referred)
  judged = judgement.read(evaluation.uri)
  ingest = read_summary(examples.uri)
  trials = input_dict.get(TUNER_RESULTS_KEY)
  return sections.Evidence(
      blessed=bool(single(BLESSING_KEY).get_int_custom_property('blessed')),
      pushed_to=_pushed_to(input_dict.get(PUSHED_MODEL_KEY, [])),
      failures=[f.line for f in judged.failures], gates=judged.gates, ingest=ingest,
      statistics={name: statistics_lib.feature_rows(s.datasets[0]) for name, s in stats.items()},
      examples={name: s.datasets[0].num_examples for name, s in stats.items()},
      facets=statistics_lib.facets_html(stats),
      training_curves=_read_bytes(os.path.join(single(MODEL_RUN_KEY).uri, TRAINING_PNG)),
      confusion=plots.confusion_png(judged.matrices, describe_test_split(ingest)),
      matrices=judged.matrices,
      recomputed_subject=predictions.subject_confusion(frames),
      roc=plots.roc_png(curves, f'frames of the {split} split'),
      aucs={grade: curve.auc for grade, curve in curves.items()}, calibration=calibration,
      reliability=plots.reliability_png({c.name: c.sums for c in calibration},
                                        f'frames of the {split} split'),
      temperature=_temperature(info),
      referral=referred_summary, referral_rules=rules,
      risk_coverage=plots.risk_coverage_png(
          *referral_metrics.risk_coverage(referral_labels, pooled),
          referred_summary['coverage']['value']),
      metrics=judged.metrics,
      videos=predictions.per_video(frames), counts=predictions.counts(frames), split=split,
      provenance={key: single(key).uri for key in (EXAMPLES_KEY, STATISTICS_KEY, MODEL_KEY,
                                                   MODEL_RUN_KEY, EVALUATION_KEY)
                  + ((TUNER_RESULTS_KEY,) if trials else ())},
      tuning=info.get('tuning'),
      trials=tuning.read_trials(single(TUNER_RESULTS_KEY).uri) if trials else None)


class Executor(base_beam_executor.BaseBeamExecutor):
  """Grades the evaluated split on Beam, then writes report.html, its PNGs and
  headline.json into the EvidenceReport."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    split = exec_properties[SPLIT_KEY]
    out = artifact_utils.get_single_instance(output_dict[REPORT_KEY])
    examples, model = (artifact_utils.get_single_instance(input_dict[key])
                       for key in (EXAMPLES_KEY, MODEL_KEY))
    frames = inference.frame_predictions(
        self._make_beam_pipeline(), artifact_utils.get_split_uri([examples], split),
        path_utils.serving_model_path(model.uri), os.path.join(out.uri, _FRAMES_DIR))
    evidence = gather(input_dict, split, frames)
    _write(os.path.join(out.uri, headline.REPORT_FILE), sections.report_page(evidence))
    for name, png in ((headline.CONFUSION_PNG, evidence.confusion), (ROC_PNG, evidence.roc),
                      (RELIABILITY_PNG, evidence.reliability),
                      (TRAINING_PNG, evidence.training_curves)):
      if png:
        _write(os.path.join(out.uri, name), png, 'wb')
    problem = sections.cross_check(evidence.matrices.get('subject'),
                                   evidence.recomputed_subject)
    _write(os.path.join(out.uri, headline.HEADLINE_FILE), json.dumps(headline.build(
        evidence.metrics, evidence.blessed, evidence.failures, evidence.ingest,
        evidence.counts, evidence.pushed_to, evidence.recomputed_subject,
        agrees_with_evaluator=problem is None), indent=2))
    out.set_int_custom_property('blessed', int(evidence.blessed))
    print(f'[report] {os.path.join(out.uri, headline.REPORT_FILE)}', file=sys.stderr, flush=True)
    if problem:
      print(f'[report] WARNING: {problem}', file=sys.stderr, flush=True)


class EvidenceReporter(base_beam_component.BaseBeamComponent):
  """The run's evidence as one HTML page: data, statistics, training, grading, gates."""

  SPEC_CLASS = EvidenceReporterSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, examples: types.BaseChannel, statistics: types.BaseChannel,
               model: types.BaseChannel, model_run: types.BaseChannel,
               evaluation: types.BaseChannel, blessing: types.BaseChannel,
               pushed_model: types.BaseChannel = None, split: str = 'test',
               tuner_results: types.BaseChannel = None):
    spec = EvidenceReporterSpec(
        examples=examples, statistics=statistics, model=model, model_run=model_run,
        evaluation=evaluation, blessing=blessing, pushed_model=pushed_model,
        tuner_results=tuner_results, split=split,
        report=types.Channel(type=EvidenceReport))
    super().__init__(spec=spec)
