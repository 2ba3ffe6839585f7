"""The pseudonym key: one HMAC scheme, read at run time, never stored, demo-only default.

Real Beam (DirectRunner), real dlib, a real LocalDagRunner with SQLite MLMD; nothing
mocked. Every test but the refusals runs with a key in the environment: conftest's
tests' key, or one of its own.
"""
import glob
import gzip
import hashlib
import hmac
import json
import os
import secrets

import pytest
import yaml
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

from components.video_ingest import component, manifest, pseudonyms, splits
from pipeline.demo.sample_data import write_sample_data
from pipeline.options import DataOptions, RuntimeOptions
from pipeline.runners import local as local_runner
from preprocessing import crop_settings
from tests import ingest_fixtures
from tests.conftest import ROOT

SECRET_YAML = os.path.join(ROOT, 'kubeflow', 'pseudonym-key-secret.yaml')
KEY = b'0123456789abcdef0123456789abcdef'  # 32 bytes, the shortest key allowed
# HMAC-SHA256(KEY, b'subject:p001') and (KEY, b'video:media/p001.mp4'), cut to 20 hex
# characters, written out (from Python's hmac module), so that a change of scheme,
# which would change every pseudonym of every dataset, fails here.
P001_SUBJECT = '41435c66d7e79af4f78e'
P001_VIDEO = '21ccef2c7e7fd6981069'


def _hand_hmac(key: bytes, message: str) -> str:
  return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:20]


@pytest.fixture
def no_key(monkeypatch):
  """Neither variable set, whatever conftest or the shell set."""
  monkeypatch.delenv(pseudonyms.KEY_ENV, raising=False)
  monkeypatch.delenv(pseudonyms.KEY_FILE_ENV, raising=False)


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
  """``palsy-tfx sample-data``'s demo data, as small as still splits every grade: two
  subjects of each grade, a two-frame video and a still each."""
  root = str(tmp_path_factory.mktemp('sample'))
  write_sample_data(root, per_grade=2, seconds=0.2, fps=10)
  return os.path.join(root, 'manifest.csv')


@pytest.fixture(scope='module')
def own(sample, tmp_path_factory):
  """The same media under a manifest of one's own: no sample-data marker."""
  root = tmp_path_factory.mktemp('own')
  for rel in ('manifest.csv', 'videos', 'stills'):
    os.symlink(os.path.join(os.path.dirname(sample), rel), root / rel)
  path = str(root / 'manifest.csv')
  assert not manifest.is_sample_data(path)
  return path


def _execute(manifest_path, out_dir):
  """VideoIngest's executor, as TFX calls it, with in-process DirectRunner."""
  examples = standard_artifacts.Examples()
  examples.uri = str(out_dir)
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=['--direct_running_mode=in_memory'])
  props = {'manifest': manifest_path, 'input_fingerprint': '',
           'source_fps': json.dumps(crop_settings.DEFAULT_SOURCE_FPS),
           'default_fps': crop_settings.DEFAULT_FPS, 'split_ratios': '[0.7, 0.15, 0.15]',
           'image_size': 32, 'margin': 0.25, 'detect_width': 320}
  component.Executor(context).Do({}, {'examples': [examples]}, props)
  return str(out_dir)


def _examples(uri):
  """(split, features) of every example under an Examples artifact's ``uri``."""
  for split in splits.SPLIT_NAMES:
    for example in ingest_fixtures.read_split(uri, split):
      yield split, example.features.feature


def _raw_ids(manifest_path):
  """Manifest path -> raw subject id."""
  return {row['path']: row['subject_id'] for row in manifest.read_rows(manifest_path)}


# The scheme.

def test_subject_and_video_ids_are_the_hmac_computed_by_hand():
  assert pseudonyms.subject_id(KEY, 'p001') == P001_SUBJECT
  assert pseudonyms.video_id(KEY, 'media/p001.mp4') == P001_VIDEO
  assert P001_SUBJECT == hmac.new(KEY, b'subject:p001', hashlib.sha256).hexdigest()[:20]
  assert P001_VIDEO == hmac.new(KEY, b'video:media/p001.mp4', hashlib.sha256).hexdigest()[:20]
  assert len(P001_SUBJECT) == len(P001_VIDEO) == 20
  item = manifest.Item(7, '/data/media/p001.mp4', 'media/p001.mp4', 'p001', 3, 'meei',
                       'left', 'video')
  assert pseudonyms.item_ids(KEY, [item]) == {7: (P001_SUBJECT, P001_VIDEO)}


def test_a_subject_and_a_video_of_the_same_string_get_different_ids():
  assert pseudonyms.subject_id(KEY, 'p001') != pseudonyms.video_id(KEY, 'p001')
  assert pseudonyms.video_id(KEY, 'p001') == _hand_hmac(KEY, 'video:p001')


def test_another_key_gives_other_pseudonyms():
  assert pseudonyms.subject_id(KEY[::-1], 'p001') != P001_SUBJECT


# Reading the key.

def test_the_key_from_the_variable_and_from_a_file(tmp_path):
  assert pseudonyms.read_key({pseudonyms.KEY_ENV: KEY.decode()}) == KEY
  key_file = tmp_path / 'key'
  key_file.write_bytes(KEY + b'\n')  # as `echo KEY > key` writes it
  assert pseudonyms.read_key({pseudonyms.KEY_FILE_ENV: str(key_file)}) == KEY
  key_file.write_bytes(KEY + b'\r\n')
  assert pseudonyms.read_key({pseudonyms.KEY_FILE_ENV: str(key_file)}) == KEY
  key_file.write_bytes(KEY + b'\n\n')  # only one newline goes: the other is the key's
  assert pseudonyms.read_key({pseudonyms.KEY_FILE_ENV: str(key_file)}) == KEY + b'\n'
  assert pseudonyms.read_key({}) is None
  assert pseudonyms.read_key({pseudonyms.KEY_ENV: '', pseudonyms.KEY_FILE_ENV: ''}) is None


def test_both_set_they_must_agree(tmp_path):
  key_file = tmp_path / 'key'
  key_file.write_bytes(KEY + b'\n')
  both = {pseudonyms.KEY_ENV: KEY.decode(), pseudonyms.KEY_FILE_ENV: str(key_file)}
  assert pseudonyms.read_key(both) == KEY
  both[pseudonyms.KEY_ENV] = KEY.decode()[::-1]
  with pytest.raises(pseudonyms.PseudonymKeyError) as e:
    pseudonyms.read_key(both)
  assert str(e.value).startswith('PALSY_PSEUDONYM_KEY and PALSY_PSEUDONYM_KEY_FILE are '
                                 'both set and hold different pseudonym keys; set only one.')


def test_an_unreadable_key_file_names_itself(tmp_path):
  missing = str(tmp_path / 'no-such-key')
  with pytest.raises(pseudonyms.PseudonymKeyError) as e:
    pseudonyms.read_key({pseudonyms.KEY_FILE_ENV: missing})
  assert str(e.value) == (f'PALSY_PSEUDONYM_KEY_FILE names {missing}, which cannot be '
                          'read: No such file or directory')


def test_a_short_key_is_refused(tmp_path):
  with pytest.raises(pseudonyms.PseudonymKeyError) as e:
    pseudonyms.read_key({pseudonyms.KEY_ENV: KEY.decode()[:31]})
  assert str(e.value) == (
      'The pseudonym key from PALSY_PSEUDONYM_KEY is 31 bytes; at least 32 are needed, so '
      'that nobody can guess it and reverse the pseudonyms. Make one with: '
      "python -c 'import secrets; print(secrets.token_hex(32))'")
  key_file = tmp_path / 'key'
  key_file.write_bytes(b'palsy-tfx\n')
  with pytest.raises(pseudonyms.PseudonymKeyError, match=f'from the file {key_file} '
                     r'\(PALSY_PSEUDONYM_KEY_FILE\) is 9 bytes'):
    pseudonyms.read_key({pseudonyms.KEY_FILE_ENV: str(key_file)})


def test_the_demo_key_is_long_enough_and_public():
  assert len(pseudonyms.DEMO_KEY) >= pseudonyms.MIN_KEY_BYTES
  with open(pseudonyms.__file__, encoding='utf-8') as f:
    assert pseudonyms.DEMO_KEY.decode() in f.read()


# The demo key only for the sample data as written.

def test_the_sample_datas_marker_is_tied_to_its_manifest(sample, no_key, tmp_path):
  assert manifest.sample_marker(sample) == 'valid'
  assert pseudonyms.ingest_key(sample, announce=False) == pseudonyms.DEMO_KEY
  folder = os.path.dirname(sample)
  # An edited manifest: one row more, beside the sample's own marker.
  edited = tmp_path / 'edited'
  edited.mkdir()
  for rel in ('videos', 'stills', manifest.SAMPLE_MARKER):
    os.symlink(os.path.join(folder, rel), edited / rel)
  with open(sample) as f:
    rows = f.read()
  (edited / 'manifest.csv').write_text(rows + 'videos/other.mp4,patient-7,II,meei,left\n')
  # A copied marker: beside a manifest of one's own.
  copied = tmp_path / 'copied'
  copied.mkdir()
  (copied / 'manifest.csv').write_text('path,subject_id,label,source\nv.mp4,jane,I,meei\n')
  with open(os.path.join(folder, manifest.SAMPLE_MARKER)) as f:
    (copied / manifest.SAMPLE_MARKER).write_text(f.read())
  for case in (edited, copied):
    path = str(case / 'manifest.csv')
    assert manifest.sample_marker(path) == 'mismatch' and not manifest.is_sample_data(path)
    with pytest.raises(pseudonyms.PseudonymKeyError) as e:
      pseudonyms.ingest_key(path, announce=False)
    assert 'was written for another one' in str(e.value) and 'PALSY_PSEUDONYM_KEY' in str(e.value)
  # With a real key, either runs, and neither is called sample data.
  assert pseudonyms.ingest_key(str(copied / 'manifest.csv'),
                               {pseudonyms.KEY_ENV: 'k' * 32}) == b'k' * 32


# Ingest without a key.

@pytest.mark.slow
def test_without_a_key_a_manifest_of_ones_own_stops_before_any_media_is_read(
    own, no_key, tmp_path, capsys):
  with pytest.raises(pseudonyms.PseudonymKeyError) as e:
    _execute(own, tmp_path)
  message = str(e.value)
  assert message.startswith(f'{own}: no pseudonym key is set.')
  for needed in ('PALSY_PSEUDONYM_KEY (the key itself)',
                 'PALSY_PSEUDONYM_KEY_FILE (a file holding it',
                 "python -c 'import secrets; print(secrets.token_hex(32))'"):
    assert needed in message
  # Not even the manifest's rows were checked, and nothing was written: the executor
  # writes crop_settings.json before Beam starts, and Beam decodes the media.
  assert '[ingest]' not in capsys.readouterr().err
  assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_without_a_key_the_sample_data_uses_the_demo_key(sample, no_key, tmp_path, capsys):
  uri = _execute(sample, tmp_path)
  assert ('no pseudonym key is set (PALSY_PSEUDONYM_KEY or PALSY_PSEUDONYM_KEY_FILE); '
          f'{sample} is the synthetic sample data, so the public demo key is used'
          ) in capsys.readouterr().err
  raw = _raw_ids(sample)
  by_video = {_hand_hmac(pseudonyms.DEMO_KEY, 'video:' + path): subject
              for path, subject in raw.items()}
  seen = set()
  for _, f in _examples(uri):
    video = f['video_id'].bytes_list.value[0].decode()
    subject = f['subject_id'].bytes_list.value[0].decode()
    assert subject == _hand_hmac(pseudonyms.DEMO_KEY, 'subject:' + by_video[video])
    seen.add(video)
  assert len(seen) == len(raw) == 24  # every video and still gave a face


# A whole run: the key is nowhere in MLMD.

def _every_value(message):
  """The string and bytes values of an MLMD record's properties and custom properties."""
  for props in (message.properties, message.custom_properties):
    for name, value in props.items():
      yield name
      kind = value.WhichOneof('value')
      if kind == 'proto_value':
        yield value.proto_value.SerializeToString()
      elif kind == 'struct_value':
        yield value.struct_value.SerializeToString()
      elif kind is not None:
        yield getattr(value, kind)


@pytest.mark.slow
def test_a_local_run_keeps_the_key_out_of_mlmd(own, tmp_path, monkeypatch):
  key = secrets.token_hex(32)
  monkeypatch.setenv(pseudonyms.KEY_ENV, key)
  root = tmp_path / 'pipeline'
  metadata_path = local_runner.run(
      str(root), DataOptions(own, ingest_image_size=32), stop_after='ingest',
      runtime=RuntimeOptions(beam_args=('--direct_running_mode=in_memory',)))
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  store = metadata_store.MetadataStore(config)
  records = store.get_executions() + store.get_artifacts() + store.get_contexts()
  assert len(store.get_executions()) == 1 and store.get_artifacts_by_type('Examples')
  values = [v for r in records for v in _every_value(r)]
  assert values and 'manifest' in values  # the execution's properties were read
  for value in values:
    text = value if isinstance(value, bytes) else str(value).encode()
    assert key.encode() not in text
  assert 'salt' not in values
  with open(metadata_path, 'rb') as f:
    assert key.encode() not in f.read()
  # Nor in any file the run wrote (the examples decompressed).
  for path in glob.glob(str(root / '**'), recursive=True):
    if os.path.isfile(path):
      opener = gzip.open if path.endswith('.gz') else open
      with opener(path, 'rb') as f:
        assert key.encode() not in f.read(), path
  # The examples carry the HMAC of the raw ids under this key, and each subject sits
  # in the split that the raw ids alone decide, as with any other key.
  [examples] = store.get_artifacts_by_type('Examples')
  raw = _raw_ids(own)
  by_video = {_hand_hmac(key.encode(), 'video:' + path): subject
              for path, subject in raw.items()}
  items, _ = manifest.check_rows(own, manifest.read_rows(own))
  split_of = splits.assign_splits(splits.subject_grades(items))
  subjects = set()
  for split, f in _examples(examples.uri):
    raw_subject = by_video[f['video_id'].bytes_list.value[0].decode()]
    subject = f['subject_id'].bytes_list.value[0].decode()
    assert subject == _hand_hmac(key.encode(), 'subject:' + raw_subject)
    assert split == split_of[raw_subject]
    subjects.add(subject)
  assert len(subjects) == len(set(raw.values())) == 12


def test_the_component_has_no_salt_and_no_key_parameter():
  assert not {'salt', 'key', 'pseudonym_key'} & set(component.VideoIngestSpec.PARAMETERS)
  assert not hasattr(splits, 'DEFAULT_SALT') and not hasattr(splits, 'pseudonymise')


def test_the_kubernetes_secret_names_what_the_code_reads():
  with open(SECRET_YAML) as f:
    secret = yaml.safe_load(f)
  assert (secret['kind'], secret['metadata']['name']) == ('Secret', pseudonyms.SECRET_NAME)
  [(name, placeholder)] = secret['stringData'].items()
  assert name == pseudonyms.SECRET_KEY
  # Applied unedited, the placeholder is refused, never used as a key.
  with pytest.raises(pseudonyms.PseudonymKeyError, match='is 21 bytes; at least 32'):
    pseudonyms.read_key({pseudonyms.KEY_ENV: placeholder})
