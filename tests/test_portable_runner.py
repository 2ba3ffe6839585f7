"""Ingest on Beam's portable runner, as Flink, Spark and Dataflow Runner v2 run Python.

Real services, nothing mocked: Beam's own job service
(``apache_beam.runners.portability.local_job_service_main``) and an external worker pool
(``apache_beam.runners.worker.worker_pool_main``) run as separate processes on free
loopback ports, and the real VideoIngest runs on them through a LocalDagRunner. Its
examples must be exactly DirectRunner's, and so must an archive graded on them
(``grade-archive``: RunInference of a real SavedModel on the external workers). A pool whose ``python`` lacks Beam must be
named as the cause, within the probe's limit, instead of a bare DEADLINE_EXCEEDED.
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import venv

import grpc
import numpy as np
import pytest

from components.video_ingest import splits
from components.video_ingest import workers as beam_workers
from pipeline.options import DataOptions, RuntimeOptions
from pipeline.predict import archive
from pipeline.runners import local as local_runner
from tests import archive_fixtures, ingest_fixtures, tiny_model
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # starts a Beam job service and worker pools

IMAGE_SIZE = 64
VENV_BIN = os.path.dirname(sys.executable)
# The bad pool's probe limit: its worker dies at once, so any limit shows the message.
BAD_POOL_TIMEOUT_S = 15


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def _service(module: str, port_flag: str, log_path: str, path_first: str):
  """Run ``python -m module port_flag=PORT`` in its own process group, with
  ``path_first`` first on its PATH and this checkout importable; yield its address.
  The group is killed afterwards, the pool's workers with it."""
  port = _free_port()
  env = dict(os.environ, PATH=path_first + os.pathsep + os.environ.get('PATH', ''),
             PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
  with open(log_path, 'wb') as log:
    proc = subprocess.Popen([sys.executable, '-m', module, f'{port_flag}={port}'],
                            stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
  address = f'localhost:{port}'
  try:
    try:
      grpc.channel_ready_future(grpc.insecure_channel(address)).result(timeout=120)
    except grpc.FutureTimeoutError:
      with open(log_path) as f:
        pytest.fail(f'{module} did not listen on {address} in 120 s:\n{f.read()[-3000:]}')
    yield address
  finally:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
      proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()


@pytest.fixture(scope='module')
def job_service(tmp_path_factory):
  log = str(tmp_path_factory.mktemp('job_service') / 'job_service.log')
  with _service('apache_beam.runners.portability.local_job_service_main', '--port', log,
                VENV_BIN) as address:
    yield address


def _worker_pool(tmp_path, path_first):
  return _service('apache_beam.runners.worker.worker_pool_main', '--service_port',
                  str(tmp_path / 'worker_pool.log'), path_first)


def _ingest(manifest, root, beam_args):
  """Examples per split (each serialized with sorted map keys) and the summary."""
  metadata_path = local_runner.run(
      root, DataOptions(manifest, ingest_image_size=IMAGE_SIZE),
      runtime=RuntimeOptions(beam_args=tuple(beam_args)), stop_after='ingest')
  per_split, ingest_summary = ingest_fixtures.read_ingest(metadata_path)
  return {split: sorted(e.SerializeToString(deterministic=True) for e in examples)
          for split, examples in per_split.items()}, ingest_summary


def test_ingest_on_external_workers_matches_direct_runner(tmp_path, no_face_images,
                                                          job_service, capfd):
  data = ingest_fixtures.build(str(tmp_path / 'data'), no_face_images)
  started = time.monotonic()
  direct, direct_summary = _ingest(data['manifest'], str(tmp_path / 'direct'),
                                   ['--direct_num_workers=1'])
  direct_s = time.monotonic() - started
  with _worker_pool(tmp_path, VENV_BIN) as pool:
    args = beam_workers.expand(f'external:job={job_service},pool={pool}')
    started = time.monotonic()
    portable, portable_summary = _ingest(data['manifest'], str(tmp_path / 'portable'), args)
    portable_s = time.monotonic() - started
  assert f'the worker pool at {pool} runs ingest' in capfd.readouterr().err
  with capfd.disabled():
    print(f'\n[timing] ingest: DirectRunner {direct_s:.0f} s, portable runner '
          f'{portable_s:.0f} s')
  assert direct_summary['subjects_per_split'] == ingest_fixtures.GOOD_SUBJECTS_PER_SPLIT
  assert {s: len(e) for s, e in direct.items()} == direct_summary['examples_per_split']
  for summary in (direct_summary, portable_summary):
    summary.pop('processing_seconds')
  assert portable_summary == direct_summary
  for split in splits.SPLIT_NAMES:
    assert portable[split] == direct[split], split


def test_an_archive_graded_on_external_workers_is_graded_as_on_direct_runner(
    tmp_path, no_face_images, job_service):
  data = tmp_path / 'data'
  data.mkdir()
  archive_fixtures.write_media(data, no_face_images)
  (data / 'manifest.csv').write_text('path,subject_id,label,source\n' + ''.join(
      f'{name},s{i},normal,yfp\n' for i, name in enumerate(
          ['s1_a.mp4', 's1_b.jpg', 's2.mp4', 'notes.mp4', 'missing.mp4'])))
  model = tiny_model.save(str(tmp_path / 'model' / '1'))
  key = {'PALSY_PSEUDONYM_KEY': 'p' * 32}
  graded = {}
  with _worker_pool(tmp_path, VENV_BIN) as pool:
    for name, args in (('direct', ['--direct_num_workers=1']),
                       ('portable', beam_workers.expand(
                           f'external:job={job_service},pool={pool}'))):
      out = str(tmp_path / name)
      summary = archive.grade_archive(str(data / 'manifest.csv'), model, out, args,
                                      environ=key)
      graded[name] = (summary, archive_fixtures.read_lines(out))
  (direct, direct_lines), (portable, portable_lines) = graded['direct'], graded['portable']
  assert (direct['graded'], direct['not_graded']) == (3, 2)
  numbers = ('subject_metrics', 'video_metrics')
  assert ({k: v for k, v in portable.items() if k not in numbers}
          == {k: v for k, v in direct.items() if k not in numbers})
  assert portable['subject_metrics']['confusion_matrix'] == (
      direct['subject_metrics']['confusion_matrix'])
  assert sorted(portable_lines) == sorted(direct_lines) == [2, 3, 4, 5]
  for row, line in direct_lines.items():
    other = portable_lines[row]
    assert (other['grade'], other['error'], other['video_id']) == (
        line['grade'], line['error'], line['video_id'])
    assert [f['face_box'] for f in other['frames']] == [f['face_box'] for f in line['frames']]
    # Batches mix other crops on each runner; a row's answer does not depend on them.
    np.testing.assert_allclose(
        [f['probabilities'] for f in other['frames'] if f['probabilities']],
        [f['probabilities'] for f in line['frames'] if f['probabilities']], atol=1e-6)


def test_pool_without_beam_is_named_as_the_cause(tmp_path, job_service):
  bare = tmp_path / 'bare-venv'
  venv.create(bare, with_pip=False)   # a python with no apache_beam, first on the PATH
  with _worker_pool(tmp_path, str(bare / 'bin')) as pool:
    args = beam_workers.expand(f'external:job={job_service},pool={pool}')
    started = time.monotonic()
    with pytest.raises(RuntimeError) as raised:
      beam_workers.check_workers(args, timeout_s=BAD_POOL_TIMEOUT_S)
    elapsed = time.monotonic() - started
  message = str(raised.value)
  assert message.startswith(f'the Beam worker pool at {pool} could not start a Python '
                            'worker that imports apache_beam and palsy-tfx')
  assert 'first `python` on its own PATH' in message
  assert "project venv's bin first on PATH" in message
  assert f'did not finish in {BAD_POOL_TIMEOUT_S} s' in message
  assert elapsed < BAD_POOL_TIMEOUT_S + 60
  with open(tmp_path / 'worker_pool.log') as f:
    assert "No module named 'apache_beam'" in f.read()


def test_unreachable_job_service_is_named():
  job = f'localhost:{_free_port()}'
  args = beam_workers.expand(f'external:job={job},pool=localhost:{_free_port()}')
  started = time.monotonic()
  with pytest.raises(RuntimeError, match=f'the Beam job service at {job} did not answer '
                                         'in 5 s; is it running'):
    beam_workers.check_workers(args, timeout_s=5)
  assert time.monotonic() - started < 30


def test_expand_gives_the_portable_runner_arguments():
  assert beam_workers.expand('external:job=localhost:8099,pool=10.0.0.7:50000') == [
      '--runner=PortableRunner', '--job_endpoint=localhost:8099',
      '--environment_type=EXTERNAL', '--environment_config=10.0.0.7:50000',
      '--job_server_timeout=604800']
  assert beam_workers.expand('external:pool=h:2,job=j:1,parallelism=4')[-1] == (
      '--sdk_worker_parallelism=4')


@pytest.mark.parametrize('spec, reason', [
    ('localhost:8099', 'expected external:job=HOST:PORT,pool=HOST:PORT'),
    ('docker:job=a:1,pool=b:2', 'expected external:'),
    ('external:job=a:1', 'pool=HOST:PORT is missing'),
    ('external:job=a:1,pool=b', "pool='b' is not HOST:PORT"),
    ('external:job=a:0,pool=b:2', "job='a:0' is not HOST:PORT with a port in 1..65535"),
    ('external:job=a:1,pool=b:70000', 'with a port in 1..65535'),
    ('external:job=a:1,pool=b:2,workers=3', "'workers=3' is not one of job=, pool="),
    ('external:job=a:1,job=a:2,pool=b:2', 'job= is given twice'),
    ('external:job=a:1,pool=b:2,parallelism=0', "parallelism='0' is not a whole number"),
])
def test_malformed_spec_names_the_flag(spec, reason):
  with pytest.raises(ValueError) as raised:
    beam_workers.expand(spec)
  assert str(raised.value).startswith(f'--beam-workers {spec!r}: ')
  assert reason in str(raised.value)


def test_only_external_environments_are_probed():
  assert beam_workers.external_pool(['--direct_running_mode=multi_processing']) is None
  assert beam_workers.external_pool(['--runner=PortableRunner', '--environment_type=DOCKER',
                                     '--environment_config=img']) is None
  assert beam_workers.external_pool(['--environment_type=EXTERNAL',
                                     '--environment_option=external_service_address=h:3']
                                    ) == 'h:3'
  started = time.monotonic()
  beam_workers.check_workers(['--direct_num_workers=2'])   # no job service: no probe
  assert time.monotonic() - started < 1
