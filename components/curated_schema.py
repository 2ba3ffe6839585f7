"""ImportSchemaGen whose cache key follows the schema file's content.

TFX caches ImportSchemaGen on its parameters, which name the file but not what is in
it: after an edit of the curated schema, a cached run kept validating against the old
one (a new feature then read as an anomaly). A fingerprint of the content, as one more
parameter, makes an edited schema a new execution. The executor is TFX's own.
"""
import hashlib

import tensorflow as tf
from tfx import types
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

SCHEMA_FINGERPRINT_KEY = 'schema_fingerprint'


class CuratedSchemaSpec(standard_component_specs.ImportSchemaGenSpec):
  PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                SCHEMA_FINGERPRINT_KEY: ExecutionParameter(type=str)}


class CuratedSchema(ImportSchemaGen):
  """Imports ``schema_file`` into the pipeline; rerun whenever its content changes."""

  SPEC_CLASS = CuratedSchemaSpec

  def __init__(self, schema_file: str):  # pylint: disable=super-init-not-called
    with tf.io.gfile.GFile(schema_file, 'rb') as f:
      fingerprint = hashlib.sha256(f.read()).hexdigest()
    spec = CuratedSchemaSpec(
        schema_file=schema_file, schema_fingerprint=fingerprint,
        schema=types.Channel(type=standard_artifacts.Schema))
    super(ImportSchemaGen, self).__init__(spec=spec)  # pylint: disable=bad-super-call
