"""ImportSchemaGen whose cache key follows the schema file's content, and whose file is
found where the code is installed, not where the pipeline was compiled.

TFX caches ImportSchemaGen on its parameters, which name the file but not what is in
it: after an edit of the curated schema, a cached run kept validating against the old
one (a new feature then read as an anomaly). A fingerprint of the content, as one more
parameter, makes an edited schema a new execution.

A Kubeflow package is compiled on one machine and runs in an image where the code lives
elsewhere (``/app`` in ``kubeflow/docker/pipeline.Dockerfile``), so an absolute path of
the compiling machine fails there. A relative ``schema_file`` is therefore kept relative
in the pipeline and resolved, as the executor runs, against the folder that holds the
installed packages (``INSTALL_ROOT``): the same file in a checkout, in the image and in an
installed wheel. An absolute path or a URI is used as it is.
"""
import hashlib
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.components.schema_gen.import_schema_gen import executor as import_executor
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

SCHEMA_FINGERPRINT_KEY = 'schema_fingerprint'
# The folder that holds ``components/``, ``pipeline/`` and the other packages.
INSTALL_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resolve(schema_file: str, root: str = INSTALL_ROOT) -> str:
  """``schema_file`` as this machine reads it: relative paths against ``root``."""
  if os.path.isabs(schema_file) or '://' in schema_file:
    return schema_file
  return os.path.join(root, schema_file)


class CuratedSchemaSpec(standard_component_specs.ImportSchemaGenSpec):
  PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                SCHEMA_FINGERPRINT_KEY: ExecutionParameter(type=str)}


class Executor(import_executor.Executor):
  """TFX's own ImportSchemaGen executor, given the schema file as installed here."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    key = standard_component_specs.SCHEMA_FILE_KEY
    super().Do(input_dict, output_dict,
               {**exec_properties, key: resolve(exec_properties[key])})


class CuratedSchema(ImportSchemaGen):
  """Imports ``schema_file`` into the pipeline; rerun whenever its content changes.
  ``schema_file`` relative: relative to ``INSTALL_ROOT`` (e.g. 'pipeline/schema/...')."""

  SPEC_CLASS = CuratedSchemaSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, schema_file: str):  # pylint: disable=super-init-not-called
    with tf.io.gfile.GFile(resolve(schema_file), 'rb') as f:
      fingerprint = hashlib.sha256(f.read()).hexdigest()
    spec = CuratedSchemaSpec(
        schema_file=schema_file, schema_fingerprint=fingerprint,
        schema=types.Channel(type=standard_artifacts.Schema))
    super(ImportSchemaGen, self).__init__(spec=spec)  # pylint: disable=bad-super-call
