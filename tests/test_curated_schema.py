"""The curated schema is re-imported when its content changes, not only its path, and is
found where the code is installed, whatever the working folder or compiling machine."""
import os

from tfx.types import standard_artifacts, standard_component_specs

from components import curated_schema
from components.curated_schema import SCHEMA_FINGERPRINT_KEY, CuratedSchema
from pipeline.pipeline import SCHEMA_FILE
from tests.conftest import ROOT

INSTALLED = os.path.join(ROOT, SCHEMA_FILE)


def test_fingerprint_follows_the_content(tmp_path):
  path = tmp_path / 'schema.pbtxt'
  path.write_text(open(INSTALLED).read())
  before = CuratedSchema(str(path)).exec_properties[SCHEMA_FINGERPRINT_KEY]
  assert CuratedSchema(str(path)).exec_properties[SCHEMA_FINGERPRINT_KEY] == before
  path.write_text(path.read_text() + 'feature { name: "new" type: FLOAT }\n')
  assert CuratedSchema(str(path)).exec_properties[SCHEMA_FINGERPRINT_KEY] != before


def test_the_pipeline_names_the_schema_relative_to_the_installed_code():
  component = CuratedSchema(SCHEMA_FILE)
  assert component.exec_properties[standard_component_specs.SCHEMA_FILE_KEY] == (
      'pipeline/schema/schema.pbtxt')
  assert curated_schema.resolve(SCHEMA_FILE) == INSTALLED
  assert curated_schema.resolve('/abs/s.pbtxt') == '/abs/s.pbtxt'
  assert curated_schema.resolve('gs://b/s.pbtxt') == 'gs://b/s.pbtxt'
  assert curated_schema.resolve(SCHEMA_FILE, '/app') == '/app/pipeline/schema/schema.pbtxt'


def test_its_executor_imports_it_from_any_working_folder(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # where a relative path alone would not be found
  component = CuratedSchema(SCHEMA_FILE)
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / 'out')
  component.executor_spec.executor_class().Do({}, {'schema': [schema]},
                                               component.exec_properties)
  assert (tmp_path / 'out' / 'schema.pbtxt').read_text() == open(INSTALLED).read()
