"""``palsy-tfx kubeflow submit`` with kfp 2.5's real ``kfp.Client``, against
``tests.kfp_standin.KfpStandin``: a loopback HTTP server that STANDS IN FOR THE KUBEFLOW
PIPELINES API SERVER (no cluster runs here). It answers the v2beta1 routes the client
calls (healthz, pipelines list/upload/upload_version/versions, experiments list/create,
runs create) and records the uploaded package and the run requests.
"""
import socket

import pytest

from pipeline.cli import main as cli
from tests.kfp_standin import API, KfpStandin

pytestmark = pytest.mark.slow  # starts a KFP API stand-in

COMPILE = ['--manifest', 'gs://bucket/data/manifest.csv', '--input-fingerprint', 'cohort-1',
           '--grades', 'normal', 'severe', '--model', 'demo', '--serving-dir',
           'gs://bucket/serving', '--pipeline-root', 'gs://bucket/root',
           '--image', 'registry/palsy-tfx:1', '--gpus', '0']


@pytest.fixture(scope='module')
def server():
  with KfpStandin() as standin:
    yield standin


@pytest.fixture(scope='module')
def first(server, tmp_path_factory):
  """A submission that compiles its package from the compile options."""
  package = tmp_path_factory.mktemp('submit') / 'palsy-tfx.yaml'
  code = cli.main(['kubeflow', 'submit', '--host', server.url, '--experiment', 'cohort-2024',
                   '--run-name', 'first-run', *COMPILE, '--output', str(package)])
  return {'code': code, 'package': package}


def test_submit_compiles_uploads_the_package_and_starts_a_run(server, first):
  assert first['code'] == 0
  [(route, query, filename, uploaded)] = server.uploads
  assert route == 'upload' and query['name'] == 'palsy-tfx'
  assert filename == 'palsy-tfx.yaml'
  assert uploaded == first['package'].read_bytes()  # the compiled package, byte for byte
  assert uploaded.startswith(b'# PIPELINE DEFINITION\n# Name: palsy-tfx\n')
  assert server.experiments == {'experiment-1': 'cohort-2024'}
  [run] = server.runs
  assert run['display_name'] == 'first-run'
  assert run['experiment_id'] == 'experiment-1'
  assert run['pipeline_version_reference'] == {'pipeline_id': 'pipeline-1',
                                               'pipeline_version_id': 'version-1'}
  assert 'pipeline_spec' not in run  # the run names the uploaded version, not a copy


def test_a_second_submission_adds_a_version_in_the_same_experiment(server, first, capsys):
  code = cli.main(['kubeflow', 'submit', '--host', server.url, '--experiment', 'cohort-2024',
                   '--run-name', 'second-run', '--package', str(first['package'])])
  assert code == 0
  assert 'started run run-2 (second-run) in experiment cohort-2024' in capsys.readouterr().out
  route, query, _, uploaded = server.uploads[-1]
  assert route == 'upload_version'
  assert query['pipelineid'] == 'pipeline-1'
  assert query['name'].startswith('second-run-')
  assert uploaded == first['package'].read_bytes()
  assert server.experiments == {'experiment-1': 'cohort-2024'}  # found, not made again
  assert server.runs[-1]['experiment_id'] == 'experiment-1'
  assert server.runs[-1]['pipeline_version_reference'] == {
      'pipeline_id': 'pipeline-1', 'pipeline_version_id': 'version-2'}


def test_a_server_error_is_reported_with_its_message(first, capsys):
  with KfpStandin(fail_on=('POST', f'{API}/pipelines/upload')) as failing:
    code = cli.main(['kubeflow', 'submit', '--host', failing.url,
                     '--package', str(first['package'])])
    assert failing.runs == []
  assert code == 1
  err = capsys.readouterr().err
  assert f'error: the Kubeflow Pipelines server at {failing.url} answered 500' in err
  assert 'cannot store /apis/v2beta1/pipelines/upload: disk full' in err


def test_submit_needs_a_package_or_the_compile_options(capsys):
  assert cli.main(['kubeflow', 'submit', '--host', 'http://127.0.0.1:9',
                   '--manifest', 'gs://b/m.csv']) == 2
  assert ('error: submit needs --package PATH, or the compile options; missing '
          '--serving-dir, --pipeline-root, --image') in capsys.readouterr().err
  assert cli.main(['kubeflow', 'submit', '--host', 'http://127.0.0.1:9', '--package', 'p.yaml',
                   '--manifest', 'gs://b/m.csv']) == 2
  assert '--package is a compiled pipeline; --manifest would not change it' in (
      capsys.readouterr().err)


def test_a_server_that_is_not_there_is_named(first, capsys):
  with socket.socket() as s:  # a loopback port that nothing listens on once closed
    s.bind(('127.0.0.1', 0))
    url = f'http://127.0.0.1:{s.getsockname()[1]}'
  assert cli.main(['kubeflow', 'submit', '--host', url, '--package',
                   str(first['package'])]) == 1
  assert f'error: cannot reach a Kubeflow Pipelines server at {url}' in capsys.readouterr().err
