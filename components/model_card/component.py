"""The ModelCardWriter TFX component: writes ``model_card.md`` for the evaluated model.

It runs after the Evaluator and before the Pusher, which copies the card into the pushed
version's ``assets.extra/`` (``components.model_card.pusher``): a served model carries
the card of the evaluation that blessed it. The card is an artifact of its own, so a
model that was not blessed has one too, in MLMD, for whoever asks why.
"""
import json
import os
import sys
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact, artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import path_utils

from components.evaluation import judgement, tuning
from components.model_card import card
from components.video_ingest.summary import read_summary
from preprocessing import crop_settings

EXAMPLES_KEY = 'examples'
MODEL_KEY = 'model'
EVALUATION_KEY = 'evaluation'
BLESSING_KEY = 'blessing'
TUNER_RESULTS_KEY = 'tuner_results'  # the Tuner's trials, with --tune
MODEL_CARD_KEY = 'model_card'
MODEL_NAME_KEY = 'model_name'
SPLIT_KEY = 'split'  # the split the Evaluator judged


class ModelCard(artifact.Artifact):
  """A directory with model_card.md."""
  TYPE_NAME = 'palsy.ModelCard'  # Kubeflow V2 wants custom types as 'namespace.Name'


class ModelCardWriterSpec(types.ComponentSpec):
  PARAMETERS = {MODEL_NAME_KEY: ExecutionParameter(type=str),
                SPLIT_KEY: ExecutionParameter(type=str)}
  INPUTS = {
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
      BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
      TUNER_RESULTS_KEY: ChannelParameter(type=standard_artifacts.TunerResults, optional=True),
  }
  OUTPUTS = {MODEL_CARD_KEY: ChannelParameter(type=ModelCard)}


def model_metadata(model_uri: str) -> dict:
  """The ``palsy_model.json`` the Trainer exported beside the SavedModel ({} if none)."""
  path = os.path.join(path_utils.serving_model_path(model_uri), crop_settings.MODEL_INFO_FILE)
  if not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def lineage(context: base_executor.BaseExecutor.Context,
            input_dict: Dict[str, List[types.Artifact]]) -> card.Lineage:
  """The run's and the inputs' MLMD ids. TFX 1.16 hands an executor its execution id only
  as the context's ``unique_id``, with no public accessor, hence the private read."""
  info = context.pipeline_info if context else None
  artifacts = [(key, a.type_name, a.id or None, a.uri)
               for key in (EXAMPLES_KEY, MODEL_KEY, EVALUATION_KEY, BLESSING_KEY,
                           TUNER_RESULTS_KEY)
               for a in input_dict.get(key, [])]
  return card.Lineage(pipeline=info.id if info else None,
                      run_id=context.pipeline_run_id if context else None,
                      execution_id=getattr(context, '_unique_id', None),
                      artifacts=artifacts)


def gather(input_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any],
           context: base_executor.BaseExecutor.Context) -> card.Facts:
  def single(key):
    return artifact_utils.get_single_instance(input_dict[key])

  judged = judgement.read(single(EVALUATION_KEY).uri)
  trials = input_dict.get(TUNER_RESULTS_KEY)
  return card.Facts(
      model_name=exec_properties[MODEL_NAME_KEY],
      blessed=bool(single(BLESSING_KEY).get_int_custom_property('blessed')),
      split=exec_properties[SPLIT_KEY],
      ingest=read_summary(single(EXAMPLES_KEY).uri),
      metrics=judged.metrics, subject_matrix=judged.matrices.get('subject'),
      gates=judged.gates, model=model_metadata(single(MODEL_KEY).uri),
      lineage=lineage(context, input_dict),
      trials=tuning.read_trials(single(TUNER_RESULTS_KEY).uri) if trials else None)


class Executor(base_executor.BaseExecutor):
  """Writes model_card.md into the ModelCard artifact."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    facts = gather(input_dict, exec_properties, self._context)
    out = artifact_utils.get_single_instance(output_dict[MODEL_CARD_KEY])
    path = os.path.join(out.uri, card.CARD_FILE)
    with tf.io.gfile.GFile(path, 'w') as f:
      f.write(card.render(facts))
    print(f'[card] {path}', file=sys.stderr, flush=True)


class ModelCardWriter(base_component.BaseComponent):
  """The evaluated model's card: data, subject-level metrics, gates, settings, the
  hyper-parameter search (``tuner_results``, the Tuner's trials, with --tune), lineage."""

  SPEC_CLASS = ModelCardWriterSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               evaluation: types.BaseChannel, blessing: types.BaseChannel,
               model_name: str, split: str = 'test',
               tuner_results: Optional[types.BaseChannel] = None):
    super().__init__(spec=ModelCardWriterSpec(
        examples=examples, model=model, evaluation=evaluation, blessing=blessing,
        tuner_results=tuner_results, model_name=model_name, split=split,
        model_card=types.Channel(type=ModelCard)))
