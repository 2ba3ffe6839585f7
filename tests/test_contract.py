"""The example contract (``preprocessing.contract``) against the two things that must
agree with it: the curated schema the pipeline validates examples with, and the
tf.Example that ingest's own ``make_example`` builds from a real face crop.

Each side is reduced to ``{key: (kind, values per example, required)}`` and compared
whole, so a key renamed, added or dropped on either side, or a kind or width changed,
fails here with both dicts in the message.
"""
import copy

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components import curated_schema
from components.video_ingest import extract
from components.video_ingest.work_list import Work
from pipeline.pipeline import SCHEMA_FILE
from preprocessing import contract, descriptors, face_frames
from preprocessing.crop_settings import CropSettings
from tests.conftest import write_jpeg

# tf.train.Feature's oneof -> the contract's kind.
_LIST_KINDS = {'bytes_list': contract.BYTES, 'int64_list': contract.INT,
               'float_list': contract.FLOAT}


def contract_features() -> dict:
  return {f.name: (f.kind, f.size, f.required) for f in contract.FEATURES}


def read_schema() -> schema_pb2.Schema:
  with open(curated_schema.resolve(SCHEMA_FILE)) as f:
    return text_format.Parse(f.read(), schema_pb2.Schema())  # strict: unknown fields fail


def schema_features(schema: schema_pb2.Schema) -> dict:
  """Kind from the FeatureType, width from the fixed shape, required when every example
  must carry it (presence min_fraction 1)."""
  out = {}
  for f in schema.feature:
    dims = [d.size for d in f.shape.dim]
    out[f.name] = (schema_pb2.FeatureType.Name(f.type), dims[0] if len(dims) == 1 else dims,
                   f.presence.min_fraction == 1.0)
  return out


def example_features(example) -> dict:
  """Every example ingest writes carries every feature, so each key present is required."""
  out = {}
  for name, feature in example.features.feature.items():
    which = feature.WhichOneof('kind')
    out[name] = (_LIST_KINDS[which], len(getattr(feature, which).value), True)
  return out


def test_contract_keys_are_the_constants_and_unique():
  names = [f.name for f in contract.FEATURES]
  assert len(set(names)) == len(names) == 15
  assert set(names) == {contract.IMAGE, contract.LABEL, contract.SUBJECT_ID, contract.VIDEO_ID,
                        contract.FRAME_INDEX, contract.TIMESTAMP_MS, contract.SOURCE,
                        contract.SIDE, contract.FACE_BOX, contract.FACE_SCORE,
                        contract.CROP_PADDED, contract.FACE_SIZE, contract.BRIGHTNESS,
                        contract.CONTRAST, contract.SHARPNESS}
  # The monitor's descriptors are all example features (preprocessing.descriptors).
  assert set(descriptors.FRAME_KEYS) <= set(names)


def test_schema_matches_the_contract():
  assert schema_features(read_schema()) == contract_features()


def test_a_renamed_schema_feature_is_caught():
  """The comparison itself can fail: rename one key in a copy of the schema."""
  schema = copy.deepcopy(read_schema())
  [side] = [f for f in schema.feature if f.name == contract.SIDE]
  side.name = 'affected_side'
  got = schema_features(schema)
  assert got != contract_features()
  assert set(got) ^ set(contract_features()) == {'affected_side', contract.SIDE}


def test_ingest_writes_exactly_the_contract(tmp_path, astronaut):
  path = str(tmp_path / 'a.png')
  write_jpeg(path, astronaut)
  [found] = face_frames.face_frames(path, 'image', fps=3, crop=CropSettings(size=64))
  work = Work(row=2, path=path, kind='image', size=1, subject='pseudonym', video='video',
              split='train', grade=3, source='meei', side='left')
  example = extract.make_example(found, work)
  assert example_features(example) == contract_features()
  feature = example.features.feature
  assert feature[contract.LABEL].int64_list.value == [3]
  assert feature[contract.SUBJECT_ID].bytes_list.value == [b'pseudonym']
  assert feature[contract.VIDEO_ID].bytes_list.value == [b'video']
  assert feature[contract.SOURCE].bytes_list.value == [b'meei']
  assert feature[contract.SIDE].bytes_list.value == [b'left']
  assert list(feature[contract.FACE_BOX].float_list.value) == pytest.approx(found.relative_box())
  seen = descriptors.of_frame(found)
  for key in descriptors.FRAME_KEYS:
    assert feature[key].float_list.value[0] == pytest.approx(seen[key], rel=1e-6), key


def test_the_schema_bounds_the_descriptors():
  """Values a real crop cannot take are anomalies: a face bigger than the frame, a grey
  level outside 0..255, a negative contrast or sharpness."""
  domains = {f.name: f.float_domain for f in read_schema().feature}
  assert (domains[contract.FACE_SIZE].min, domains[contract.FACE_SIZE].max) == (0, 1)
  assert (domains[contract.BRIGHTNESS].min, domains[contract.BRIGHTNESS].max) == (0, 255)
  for key in (contract.CONTRAST, contract.SHARPNESS):
    assert domains[key].HasField('min') and domains[key].min == 0
    assert not domains[key].HasField('max')  # relative measures, unbounded in principle


def test_the_contract_fingerprint_keys_the_ingest_cache():
  from components.video_ingest.component import VideoIngest  # pylint: disable=g-import-not-at-top
  fingerprint = contract.features_fingerprint()
  assert VideoIngest('m.csv', 'f').exec_properties['example_contract'] == fingerprint
  original = contract.FEATURES
  try:
    contract.FEATURES = original[:-1]
    assert contract.features_fingerprint() != fingerprint
  finally:
    contract.FEATURES = original
