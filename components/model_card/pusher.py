"""TFX's Pusher with one more, optional input: the model card, which the pushed version
carries as ``assets.extra/model_card.md``.

The executor is TFX's own (blessing check, versioning, the copy to the serving directory
and into the PushedModel artifact), with ``GetModelPath`` answering a staged copy of the
model with the card added: so the card is in place before TFX copies ``saved_model.pb``,
the file whose arrival tells TF Serving that a version is complete, and only a blessed
model is ever staged. A card written after the push would land in a version that a
server may already have loaded. With ``infra_blessing`` (the ServingCheck's
InfraBlessing), TFX's own blessing check also refuses a model that did not pass it.
"""
import os
from typing import Dict, List, Optional

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import io_utils

from components.model_card.card import CARD_FILE
from components.model_card.component import MODEL_CARD_KEY, ModelCard
from preprocessing.crop_settings import ASSETS_EXTRA


class CardPusherSpec(standard_component_specs.PusherSpec):
  INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
            MODEL_CARD_KEY: ChannelParameter(type=ModelCard, optional=True)}


class Executor(pusher_executor.Executor):
  """Pushes the model with its card in ``assets.extra/``."""

  def GetModelPath(self, input_dict: Dict[str, List[types.Artifact]]) -> str:
    model_path = super().GetModelPath(input_dict)
    if not input_dict.get(MODEL_CARD_KEY):
      return model_path
    model_card = artifact_utils.get_single_instance(input_dict[MODEL_CARD_KEY])
    staged = os.path.join(self._get_tmp_dir(), 'model')  # the launcher removes it afterwards
    io_utils.copy_dir(model_path, staged)
    io_utils.copy_file(os.path.join(model_card.uri, CARD_FILE),
                       os.path.join(staged, ASSETS_EXTRA, CARD_FILE), overwrite=True)
    return staged


class CardPusher(base_component.BaseComponent):
  """Pusher (filesystem destination) whose pushed version includes the model card."""

  SPEC_CLASS = CardPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
               push_destination: pusher_pb2.PushDestination,
               model_card: Optional[types.BaseChannel] = None,
               infra_blessing: Optional[types.BaseChannel] = None):
    super().__init__(spec=CardPusherSpec(
        model=model, model_blessing=model_blessing, model_card=model_card,
        infra_blessing=infra_blessing, push_destination=push_destination,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
