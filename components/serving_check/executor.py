"""The ServingCheck's executor: the thin TFX shell around ``probe`` and ``check``.

It records the verdict as TFX's InfraValidator does (infra_validator/executor.py), so the
standard Pusher reads it: the ``blessed`` custom property 1 or 0 and an empty
``INFRA_BLESSED`` or ``INFRA_NOT_BLESSED`` file in the artifact; and, for people, the
reasons in the ``reason`` custom property and the whole report in ``serving_check.json``.
A model the Evaluator did not bless is refused without being loaded.
"""
import json
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.serving_check import check, probe, spec

# As TFX's InfraValidator writes them (tfx/components/infra_validator/executor.py).
BLESSED_PROPERTY = 'blessed'
BLESSED_FILE = 'INFRA_BLESSED'
NOT_BLESSED_FILE = 'INFRA_NOT_BLESSED'
REASON_PROPERTY = 'reason'


def settings_from(exec_properties: Dict[str, Any]) -> check.Settings:
  return check.Settings(
      tolerance=float(exec_properties[spec.TOLERANCE_KEY]),
      latency_requests=int(exec_properties[spec.LATENCY_REQUESTS_KEY]),
      max_p99_ms=(float(exec_properties[spec.MAX_P99_MS_BATCH_1_KEY]),
                  float(exec_properties[spec.MAX_P99_MS_BATCH_32_KEY])),
      timeout_seconds=int(exec_properties[spec.TIMEOUT_SECONDS_KEY]))


def record(blessing: types.Artifact, report: dict) -> None:
  """The verdict into the InfraBlessing artifact."""
  passed = check.blessed(report)
  with tf.io.gfile.GFile(os.path.join(blessing.uri, check.REPORT_FILE), 'w') as f:
    json.dump(report, f, indent=2)
  io_utils.write_string_file(
      os.path.join(blessing.uri, BLESSED_FILE if passed else NOT_BLESSED_FILE), '')
  blessing.set_int_custom_property(BLESSED_PROPERTY, int(passed))
  blessing.set_string_custom_property(REASON_PROPERTY, '; '.join(report['reasons']))


class Executor(base_executor.BaseExecutor):
  """Checks a blessed model in a fresh process; records the InfraBlessing."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
    blessing = artifact_utils.get_single_instance(output_dict[spec.BLESSING_KEY])
    settings = settings_from(exec_properties)
    model_dir = path_utils.serving_model_path(model.uri,
                                              path_utils.is_old_model_artifact(model))
    judged = input_dict.get(spec.MODEL_BLESSING_KEY)
    if judged and not model_utils.is_model_blessed(artifact_utils.get_single_instance(judged)):
      report = check.not_checked(model_dir)
    else:
      report = probe.run(model_dir, settings, os.path.join(self._get_tmp_dir(), 'probe'))
    record(blessing, report)
    print(f'[serving-check] {check.describe(report)}', flush=True)
