"""The ServingCheck TFX component: between the Evaluator and the Pusher, it proves that
the blessed model serves before anything is pushed.

TFX's InfraValidator would start TF Serving in Docker or Kubernetes, and the Kubeflow V2
runner does not support it (tensorflow/tfx issue 5512); this component runs the same way
under the local and the Kubeflow runner. It loads the candidate in a fresh process as TF
Serving does, replays the warmup requests through every signature and compares the
outputs with the Trainer's own, times requests at batch 1 and 32 against limits, and
emits TFX's standard InfraBlessing, which the Pusher takes as ``infra_blessing``.
"""
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.serving_check import check, executor, spec

_DEFAULTS = check.Settings()


class ServingCheck(base_component.BaseComponent):
  """InfraBlessing for a model that loads, answers as the Trainer did, and is fast enough.
  Parameters: see ``check.Settings``; ``max_p99_ms_batch_1`` and ``max_p99_ms_batch_32``
  are its ``max_p99_ms``."""

  SPEC_CLASS = spec.ServingCheckSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, model: types.BaseChannel,
               model_blessing: Optional[types.BaseChannel] = None,
               tolerance: float = _DEFAULTS.tolerance,
               latency_requests: int = _DEFAULTS.latency_requests,
               max_p99_ms_batch_1: float = _DEFAULTS.max_p99_ms[0],
               max_p99_ms_batch_32: float = _DEFAULTS.max_p99_ms[1],
               timeout_seconds: int = _DEFAULTS.timeout_seconds):
    # Checked here, so a bad limit fails when the pipeline is built, not after training.
    check.Settings(tolerance, latency_requests, (max_p99_ms_batch_1, max_p99_ms_batch_32),
                   timeout_seconds)
    super().__init__(spec=spec.ServingCheckSpec(
        model=model, model_blessing=model_blessing, tolerance=float(tolerance),
        latency_requests=int(latency_requests), max_p99_ms_batch_1=float(max_p99_ms_batch_1),
        max_p99_ms_batch_32=float(max_p99_ms_batch_32),
        timeout_seconds=int(timeout_seconds),
        blessing=types.Channel(type=standard_artifacts.InfraBlessing)))
