"""The ServingCheck's inputs, output and parameters, each named once here.

The keys of the model, the Evaluator's blessing and the output are TFX's own
(``standard_component_specs``), as InfraValidator names them, so the standard Pusher
reads the output as ``infra_blessing``.
"""
from tfx import types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

MODEL_KEY = standard_component_specs.MODEL_KEY                    # 'model'
MODEL_BLESSING_KEY = standard_component_specs.MODEL_BLESSING_KEY  # 'model_blessing'
BLESSING_KEY = standard_component_specs.BLESSING_KEY              # 'blessing'
TOLERANCE_KEY = 'tolerance'
LATENCY_REQUESTS_KEY = 'latency_requests'
MAX_P99_MS_BATCH_1_KEY = 'max_p99_ms_batch_1'
MAX_P99_MS_BATCH_32_KEY = 'max_p99_ms_batch_32'
TIMEOUT_SECONDS_KEY = 'timeout_seconds'


class ServingCheckSpec(types.ComponentSpec):
  PARAMETERS = {
      TOLERANCE_KEY: ExecutionParameter(type=float),
      LATENCY_REQUESTS_KEY: ExecutionParameter(type=int),
      MAX_P99_MS_BATCH_1_KEY: ExecutionParameter(type=float),
      MAX_P99_MS_BATCH_32_KEY: ExecutionParameter(type=float),
      TIMEOUT_SECONDS_KEY: ExecutionParameter(type=int),
  }
  INPUTS = {
      MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing,
                                           optional=True),
  }
  OUTPUTS = {BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing)}
