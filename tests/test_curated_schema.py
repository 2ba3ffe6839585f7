"""The curated schema is re-imported when its content changes, not only its path."""
from tfx.components.schema_gen.import_schema_gen import executor
from tfx.types import standard_artifacts

from components.curated_schema import SCHEMA_FINGERPRINT_KEY, CuratedSchema
from pipeline.pipeline import SCHEMA_FILE


def test_fingerprint_follows_the_content(tmp_path):
  path = tmp_path / 'schema.pbtxt'
  path.write_text(open(SCHEMA_FILE).read())
  before = CuratedSchema(str(path)).exec_properties[SCHEMA_FINGERPRINT_KEY]
  assert CuratedSchema(str(path)).exec_properties[SCHEMA_FINGERPRINT_KEY] == before
  path.write_text(path.read_text() + 'feature { name: "new" type: FLOAT }\n')
  assert CuratedSchema(str(path)).exec_properties[SCHEMA_FINGERPRINT_KEY] != before


def test_tfx_executor_imports_it(tmp_path):
  component = CuratedSchema(SCHEMA_FILE)
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / 'out')
  executor.Executor().Do({}, {'schema': [schema]}, component.exec_properties)
  assert (tmp_path / 'out' / 'schema.pbtxt').read_text() == open(SCHEMA_FILE).read()
