"""A run killed mid-ingest leaves no raw media path outside the failed execution's own
folder, and the next run starts clean.

The kill is real: ``palsy-tfx run --stop-after ingest`` in its own process group, with
Beam's multi-processing DirectRunner, SIGKILLed once its workers have started on the
media. Nothing is mocked.
"""
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from tests import ingest_fixtures
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # runs ingest pipelines

PALSY = os.path.join(os.path.dirname(sys.executable), 'palsy-tfx')


def _run_args(manifest_path, root):
  return [PALSY, 'run', '--manifest', manifest_path, '--pipeline-root', root,
          '--stop-after', 'ingest', '--ingest-image-size', '64',
          '--beam-arg=--direct_running_mode=multi_processing',
          '--beam-arg=--direct_num_workers=1']


def _files_naming(root, needles):
  """Every file under ``root`` whose bytes hold one of ``needles``."""
  hits = []
  for path in glob.glob(os.path.join(root, '**', '*'), recursive=True):
    if os.path.isfile(path):
      with open(path, 'rb') as f:
        data = f.read()
      if any(n.encode() in data for n in needles):
        hits.append(path)
  return hits


def test_a_killed_ingest_leaves_its_paths_only_in_its_own_folder(tmp_path, no_face_images):
  data = ingest_fixtures.build(str(tmp_path / 'data'), no_face_images)
  root = str(tmp_path / 'pipeline')
  env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
  proc = subprocess.Popen(_run_args(data['manifest'], root), cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True)
  work = os.path.join(root, 'VideoIngest', 'examples', '*', '_work')
  progress = os.path.join(root, 'VideoIngest', 'examples', '*', '_progress', '*.json')
  deadline = time.time() + 600
  while not glob.glob(progress) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.2)  # until a worker has finished some media
  assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
  [work_folder] = glob.glob(work)  # the work list, with its paths, is on disk now
  os.killpg(proc.pid, signal.SIGKILL)
  proc.wait()
  proc.stderr.close()

  failed_folder = os.path.dirname(work_folder)
  needles = [os.path.join(data['manifest'].rsplit('/', 1)[0], 'media'), 'media/p00']
  hits = _files_naming(root, needles)
  assert hits, 'the work list should name the media'
  outside = [h for h in hits if not h.startswith(failed_folder + os.sep)]
  assert outside == []  # nothing in MLMD, logs or other artifacts names a media file

  # The next run starts clean: its own execution, its own folder, every file ingested.
  done = subprocess.run(_run_args(data['manifest'], root), cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  folders = sorted(glob.glob(os.path.join(root, 'VideoIngest', 'examples', '*')))
  assert len(folders) == 2 and failed_folder in folders
  [fresh] = [f for f in folders if f != failed_folder]
  assert not os.path.exists(os.path.join(fresh, '_work'))  # removed when ingest ended
  _, summary = ingest_fixtures.read_ingest(os.path.join(root, 'metadata.sqlite'))
  assert summary['videos_read'] == 9 and summary['images_read'] == 2
  assert _files_naming(fresh, needles) == []
