"""``palsy-tfx serving config``: TF Serving's models.config is written from the versions
pushed to a serving directory, read back with TF Serving's own proto, and a version that is
not there (or not complete) is refused in one line before anything is written. The
repository pins no versions: the kit's kustomization reads the generated file."""
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import serving_config
from pipeline.cli import main as cli
from pipeline.cli import serving as serving_cli
from tests import serving_kit
from tests.conftest import ROOT


@pytest.fixture
def serving_dir(tmp_path):
  """Three pushes, as the Pusher leaves them in SERVING_DIR/palsy/."""
  path = str(tmp_path / 'serving')
  serving_kit.push(path, 1700000000, 1700000100, 1700000200)
  return path


def _parse(text):
  return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def test_the_config_loads_and_labels_exactly_the_versions_given(serving_dir):
  text = serving_config.config_text(serving_dir, 1700000100, 1700000200)
  assert text.startswith('# TF Serving\'s ModelServerConfig')
  (model,) = _parse(text).model_config_list.config
  assert (model.name, model.base_path, model.model_platform) == (
      'palsy', '/models/palsy', 'tensorflow')
  assert list(model.model_version_policy.specific.versions) == [1700000100, 1700000200]
  assert dict(model.version_labels) == {'stable': 1700000100, 'canary': 1700000200}


def test_without_a_canary_the_stable_version_carries_both_labels(serving_dir):
  (model,) = _parse(serving_config.config_text(serving_dir, 1700000000)
                    ).model_config_list.config
  assert list(model.model_version_policy.specific.versions) == [1700000000]
  assert dict(model.version_labels) == {'stable': 1700000000, 'canary': 1700000000}


def test_a_version_is_a_numbered_folder_with_its_saved_model(tmp_path):
  path = str(tmp_path / 'serving')
  serving_kit.push(path, 7, 5)
  folder = serving_config.model_folder(path)
  os.makedirs(os.path.join(folder, '9'))  # a push still copying: no saved_model.pb yet
  os.makedirs(os.path.join(folder, 'staging'))  # TF Serving skips a name that is no number
  for name in ('staging/saved_model.pb', '11'):  # '11' a file, not a folder
    with open(os.path.join(folder, name), 'w'):
      pass
  assert serving_config.versions(path) == [5, 7]


def _refused(capsys, argv):
  """``palsy-tfx ARGV`` fails as a known error: exit 2, one line on stderr."""
  code = cli.main(argv)
  err = capsys.readouterr().err
  assert code == 2, err
  assert len(err.splitlines()) == 1 and 'Traceback' not in err, err
  return err


def test_a_version_that_was_not_pushed_is_refused_naming_those_that_were(serving_dir, capsys,
                                                                          tmp_path):
  output = tmp_path / 'models.config'
  output.write_text('the config in use\n')
  err = _refused(capsys, ['serving', 'config', '--serving-dir', serving_dir,
                          '--stable', '1700000000', '--canary', '1799999999',
                          '--output', str(output)])
  assert err.startswith(f'error: --canary 1799999999: {serving_dir}/palsy/1799999999 does '
                        'not exist; the versions in')
  assert err.rstrip().endswith('are 1700000000, 1700000100, 1700000200')
  assert output.read_text() == 'the config in use\n'  # nothing overwritten


def test_a_version_folder_without_its_saved_model_is_refused(serving_dir, capsys, tmp_path):
  os.makedirs(os.path.join(serving_config.model_folder(serving_dir), '1700000300'))
  err = _refused(capsys, ['serving', 'config', '--serving-dir', serving_dir,
                          '--stable', '1700000300', '--output', str(tmp_path / 'm.config')])
  assert '--stable 1700000300' in err and 'has no saved_model.pb' in err
  assert not (tmp_path / 'm.config').exists()


@pytest.mark.parametrize('argv,needle', [
    (['--stable', '1700000200', '--canary', '1700000100', '--output', 'models.config'],
     '--canary 1700000100 is older than --stable 1700000200'),
    (['--stable', '1700000000', '--output', 'nowhere/models.config'],
     '--output nowhere/models.config: no folder nowhere'),
])
def test_a_config_that_cannot_work_is_refused(serving_dir, capsys, tmp_path, monkeypatch,
                                              argv, needle):
  monkeypatch.chdir(tmp_path)
  err = _refused(capsys, ['serving', 'config', '--serving-dir', serving_dir, *argv])
  assert needle in err


@pytest.mark.parametrize('where,needle', [
    ('empty', 'no folder {}/palsy: nothing was pushed'),
    ('gs://bucket/serving', 'give the local folder'),
])
def test_a_serving_dir_without_pushes_is_refused(tmp_path, capsys, where, needle):
  path = str(tmp_path / where) if where == 'empty' else where
  err = _refused(capsys, ['serving', 'config', '--serving-dir', path, '--stable', '1',
                          '--output', str(tmp_path / 'm.config')])
  assert needle.format(path) in err


def test_the_command_writes_the_kits_file(serving_dir, tmp_path):
  """The installed command's path (``python -m pipeline.cli``), from a checkout's root:
  the default output is the file that the kustomization reads."""
  root = tmp_path / 'checkout'
  os.makedirs(root / 'kubeflow' / 'serving')
  done = subprocess.run(
      [sys.executable, '-m', 'pipeline.cli', 'serving', 'config', '--serving-dir', serving_dir,
       '--stable', '1700000100', '--canary', '1700000200'],
      cwd=str(root), capture_output=True, text=True, timeout=120,
      env=dict(os.environ, PYTHONPATH=ROOT))
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip() == ('wrote kubeflow/serving/models.config: stable 1700000100, '
                                 'canary 1700000200; deploy it with kubectl apply -k '
                                 'kubeflow/serving')
  written = (root / serving_cli.DEFAULT_OUTPUT).read_text()
  assert written == serving_config.config_text(serving_dir, 1700000100, 1700000200)


def test_the_kustomization_reads_the_generated_file():
  assert os.path.join(ROOT, os.path.dirname(serving_cli.DEFAULT_OUTPUT)) == serving_kit.KIT
  with open(os.path.join(serving_kit.KIT, 'kustomization.yaml')) as f:
    (generator,) = yaml.safe_load(f)['configMapGenerator']
  assert os.path.basename(serving_cli.DEFAULT_OUTPUT) in generator['files']


@pytest.mark.skipif(not shutil.which('kubectl'), reason='no kubectl (its kustomize is offline)')
def test_kustomize_needs_the_generated_file_and_takes_it(serving_dir, tmp_path):
  """kubectl's own kustomize: the kit without models.config stops naming it; with the
  generated file, the ConfigMap holds it."""
  def kustomize(folder):
    return subprocess.run(['kubectl', 'kustomize', folder], capture_output=True, text=True,
                          timeout=60)
  bare = tmp_path / 'bare'
  shutil.copytree(serving_kit.KIT, bare, ignore=shutil.ignore_patterns(serving_config.FILE_NAME))
  done = kustomize(str(bare))
  assert done.returncode != 0 and f'{bare}/models.config' in done.stderr, done.stderr
  kit = serving_kit.generate(str(tmp_path / 'kit'), serving_dir, 1700000000, 1700000200)
  done = kustomize(kit)
  assert done.returncode == 0, done.stderr
  (config_map,) = [doc for doc in yaml.safe_load_all(done.stdout) if doc['kind'] == 'ConfigMap']
  assert config_map['data']['models.config'] == serving_config.config_text(
      serving_dir, 1700000000, 1700000200)


def test_the_repository_pins_no_versions():
  """models.config is ignored in the kit's folder and (in a git checkout) not committed:
  the hand-pinned file is gone, so every deployment's versions come from its pushes."""
  with open(os.path.join(serving_kit.KIT, '.gitignore')) as f:
    assert serving_config.FILE_NAME in f.read().split()
  if not os.path.exists(os.path.join(ROOT, '.git')):
    pytest.skip('not a git checkout')
  tracked = subprocess.run(['git', 'ls-files', 'kubeflow/serving'], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
  assert 'kubeflow/serving/deployment.yaml' in tracked
  assert 'kubeflow/serving/models.config' not in tracked
