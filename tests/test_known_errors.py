"""Every subcommand, run into each of its known failure modes: one line on stderr, no
traceback, the documented exit code (docs/run.md, "Exit codes"), and no work done first.
``--verbose`` adds the traceback. None of these starts a pipeline: each must fail before.
"""
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from components.video_ingest import pseudonyms
from pipeline.cli import main as cli
from preprocessing import crop_settings, logs
from tests.conftest import ROOT, write_jpeg
from trainer import weight_files

MANIFEST_HEADER = 'path,subject_id,label,source\n'


@pytest.fixture
def own_manifest(tmp_path, astronaut):
  """A manifest of the user's own (not the demo data), with its media."""
  write_jpeg(str(tmp_path / 'a.jpg'), astronaut)
  path = tmp_path / 'manifest.csv'
  path.write_text(MANIFEST_HEADER + 'a.jpg,s1,normal,stills\n')
  return str(path)


@pytest.fixture
def key(monkeypatch):
  monkeypatch.setenv(pseudonyms.KEY_ENV, 'k' * 64)
  monkeypatch.delenv(pseudonyms.KEY_FILE_ENV, raising=False)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
  """An empty Keras cache: the default preset's VGGFace file is nowhere."""
  monkeypatch.setattr(weight_files, 'KERAS_CACHE', str(tmp_path / 'empty_cache'))


@pytest.fixture
def model_info(tmp_path):
  """A pushed model's record of its crop settings, and nothing else: enough for predict's
  checks, which come before the model is loaded."""
  folder = tmp_path / 'model' / '1'
  os.makedirs(folder / crop_settings.ASSETS_EXTRA)
  (folder / crop_settings.MODEL_INFO_FILE).write_text(
      '{"crop_settings": %s}' % crop_settings.to_json(crop_settings.CropSettings(), {}, 3.0))
  return str(folder)


def _in_a_fresh_process(argv, cwd, **env) -> subprocess.CompletedProcess:
  """``palsy-tfx ARGV`` in a new Python, which then prints 'loaded' and the TensorFlow,
  Keras and TFX modules it holds: in this process they are loaded already, so only a
  fresh one can show that a command answered without them."""
  code = textwrap.dedent(f'''
      import sys
      from pipeline.cli import main as cli
      code = cli.main({list(argv)!r})
      print('loaded', ' '.join(m for m in sys.modules if m.split('.')[0] in
                               ('tensorflow', 'keras', 'tfx')))
      sys.exit(code)''')
  return subprocess.run([sys.executable, '-c', code], cwd=str(cwd), capture_output=True,
                        text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT, **env))


def _one_line(capsys, code, expected_code, *needles):
  captured = capsys.readouterr()
  assert code == expected_code, captured.err
  lines = captured.err.splitlines()
  assert len(lines) == 1, captured.err
  assert 'Traceback' not in captured.err + captured.out
  for needle in needles:
    assert needle in lines[0], lines[0]
  return lines[0]


def test_run_with_the_default_preset_and_no_weights_stops_before_ingest(
    own_manifest, key, no_weights, tmp_path, capsys):
  root = tmp_path / 'root'
  line = _one_line(capsys, cli.main(['run', '--manifest', own_manifest,
                                     '--pipeline-root', str(root)]), 2,
                   'error: pretrained weights rcmalli_vggface_tf_notop_vgg16.h5 not found',
                   '--weights /path/to/rcmalli_vggface_tf_notop_vgg16.h5')
  assert str(tmp_path / 'empty_cache' / 'vggface') in line
  assert not root.exists()  # nothing started


def test_leakage_with_the_default_preset_and_no_weights_stops_before_ingest(
    own_manifest, key, no_weights, tmp_path, capsys):
  _one_line(capsys, cli.main(['leakage', '--manifest', own_manifest,
                              '--output', str(tmp_path / 'out')]), 2,
            'pretrained weights rcmalli_vggface_tf_notop_vgg16.h5 not found')
  assert not (tmp_path / 'out').exists()


def test_an_ingest_only_run_needs_no_weights(own_manifest, key, no_weights):
  """--stop-after ingest trains nothing, so a missing weights file is no reason to stop it
  (checked without running it: the preflight alone)."""
  args = cli.build_parser().parse_args(['run', '--manifest', own_manifest,
                                        '--pipeline-root', 'r', '--stop-after', 'ingest'])
  assert set(cli._pipeline_options(args, trains=False)) == {'model', 'runtime', 'data'}
  with pytest.raises(weight_files.WeightsNotFound):
    cli._pipeline_options(args, trains=True)


def test_run_answers_before_tfx_or_tensorflow_load(own_manifest, tmp_path):
  """A run that will fail says so before the pipeline (and with it TFX and TensorFlow)
  is even built: here the default preset's weights, missing from a fresh HOME."""
  done = _in_a_fresh_process(['run', '--manifest', own_manifest, '--pipeline-root', 'root'],
                             tmp_path, HOME=str(tmp_path), **{pseudonyms.KEY_ENV: 'k' * 64})
  assert done.returncode == 2, done.stderr
  assert done.stdout.strip() == 'loaded'
  assert done.stderr.startswith('error: pretrained weights rcmalli_vggface_tf_notop_vgg16.h5')
  assert not (tmp_path / 'root').exists()


@pytest.mark.parametrize('argv,needle', [
    (['--split-ratios', '-1', '0.5', '0.5'], 'split ratios must be three non-negative'),
    (['--beam-workers', 'external:job=localhost:8099'], 'pool=HOST:PORT is missing'),
    (['--source-fps', '{"yfp": 0}'], '--source-fps'),
    (['--model', 'nope'], "invalid choice: 'nope'"),
    (['--max-ece', '1.5'], '--max-ece must lie in [0, 1], got 1.5'),
    (['--max-p99-ms', '500', '-1'], '--max-p99-ms takes two limits > 0'),
    (['--tune', '--tune-space', '{"momentum": [0.9]}'],
     "--tune-space: unknown parameter(s) 'momentum'"),
    (['--jit-compile', 'yes'], "argument --jit-compile: invalid choice: 'yes'"),
])
def test_run_refuses_a_bad_option_in_one_line(own_manifest, key, tmp_path, capsys, argv,
                                              needle):
  base = ['run', '--manifest', own_manifest, '--pipeline-root', str(tmp_path / 'root')]
  try:
    code = cli.main(base + argv)
  except SystemExit as e:  # argparse's own refusal: also one line (after its usage)
    code = e.code
    err = capsys.readouterr().err
    assert code == 2 and 'Traceback' not in err and needle in err.splitlines()[-1]
    return
  _one_line(capsys, code, 2, needle)


def test_run_names_a_missing_manifest(key, tmp_path, capsys):
  missing = str(tmp_path / 'nowhere.csv')
  _one_line(capsys, cli.main(['run', '--manifest', missing, '--pipeline-root',
                              str(tmp_path / 'root')]), 2, missing)


def test_run_refuses_a_pipeline_root_or_serving_dir_that_is_a_file(own_manifest, key,
                                                                   tmp_path, capsys):
  a_file = tmp_path / 'a_file'
  a_file.write_text('')
  _one_line(capsys, cli.main(['run', '--manifest', own_manifest, '--pipeline-root',
                              str(a_file), '--model', 'demo']), 2,
            f'--pipeline-root {a_file} is a file, not a folder')
  _one_line(capsys, cli.main(['run', '--manifest', own_manifest, '--pipeline-root',
                              str(tmp_path / 'root'), '--serving-dir', str(a_file),
                              '--model', 'demo']), 2,
            f'--serving-dir {a_file} is a file, not a folder')
  # An ingest-only run pushes nothing: its serving directory is not its business.
  args = cli.build_parser().parse_args(['run', '--manifest', own_manifest, '--pipeline-root',
                                        str(tmp_path / 'root'), '--serving-dir', str(a_file),
                                        '--stop-after', 'ingest'])
  from pipeline.runners import preflight  # pylint: disable=g-import-not-at-top
  preflight.check_folders(args.pipeline_root, cli.options.ServingOptions.from_args(args), 'ingest')


def test_run_without_a_key_on_ones_own_data_stops(own_manifest, tmp_path, capsys,
                                                  monkeypatch):
  monkeypatch.delenv(pseudonyms.KEY_ENV, raising=False)
  monkeypatch.delenv(pseudonyms.KEY_FILE_ENV, raising=False)
  _one_line(capsys, cli.main(['run', '--manifest', own_manifest, '--pipeline-root',
                              str(tmp_path / 'root')]), 2, 'no pseudonym key is set')


def test_verbose_shows_the_traceback_of_a_known_error(key, tmp_path, capsys, monkeypatch):
  monkeypatch.setenv(logs.VERBOSE_ENV, '0')  # restored after; --verbose sets it
  missing = str(tmp_path / 'nowhere.csv')
  assert cli.main(['--verbose', 'run', '--manifest', missing, '--pipeline-root',
                   str(tmp_path / 'root')]) == 2
  err = capsys.readouterr().err
  assert err.startswith('Traceback (most recent call last):')
  assert err.splitlines()[-1].startswith('error: ') and missing in err.splitlines()[-1]


@pytest.mark.parametrize('argv,needle', [
    (['--subjects-per-grade', '0'], '--subjects-per-grade must be at least 1'),
    (['--seconds', '0'], '--seconds above 0'),
])
def test_sample_data_refuses_nonsense(tmp_path, capsys, argv, needle):
  _one_line(capsys, cli.main(['sample-data', '--output', str(tmp_path / 'd'), *argv]), 2,
            needle)


def test_sample_data_into_a_file_says_so(tmp_path, capsys):
  a_file = tmp_path / 'a_file'
  a_file.write_text('')
  _one_line(capsys, cli.main(['sample-data', '--output', str(a_file)]), 2, str(a_file))


def test_headline_without_a_report_exits_1(tmp_path, capsys):
  _one_line(capsys, cli.main(['headline', '--pipeline-root', str(tmp_path)]), 1,
            'no evidence report in')


@pytest.mark.parametrize('inputs,needles', [
    (['notes.txt'], ['notes.txt: unsupported extension']),
    (['gone.mp4'], ['gone.mp4: file not found']),
    (['empty.jpg', 'notes.txt'], ['empty.jpg: zero-byte file', 'notes.txt: unsupported']),
])
def test_predict_with_nothing_it_could_grade_answers_before_tensorflow(
    tmp_path, model_info, inputs, needles):
  """In a fresh process, so that the absence of TensorFlow there means something."""
  (tmp_path / 'notes.txt').write_text('not a video')
  (tmp_path / 'empty.jpg').write_bytes(b'')
  done = _in_a_fresh_process(['predict', *inputs, '--model', model_info], tmp_path)
  assert done.returncode == 2, done.stderr
  assert done.stdout.strip() == 'loaded'  # no TensorFlow, no Keras, no TFX
  lines = done.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith('palsy-tfx predict: error: no input can be '
                                                 'graded: ')
  for needle in needles:
    assert needle in lines[0]


@pytest.mark.parametrize('flags,needle', [
    (['--model', '{missing}'], 'palsy_model.json not found'),
    (['--rest', 'http://localhost:1'], '--rest needs --model-info'),
])
def test_predict_refuses_a_model_it_cannot_use_in_one_line(tmp_path, astronaut, capsys,
                                                           flags, needle):
  still = str(tmp_path / 'still.jpg')
  write_jpeg(still, astronaut)
  argv = [f.format(missing=str(tmp_path / 'no_model')) for f in flags]
  _one_line(capsys, cli.main(['predict', still, *argv]), 2, 'palsy-tfx predict: error: ',
            needle)


@pytest.mark.parametrize('manifest_text,model,needle', [
    ('path\na.jpg\n', 'no_model', 'palsy_model.json not found'),
    (None, 'model', 'manifest.csv: manifest not found'),
    ('file,label\na.jpg,normal\n', 'model', 'missing required column(s) path'),
    ('path\na.jpg\n', 'graded', 'already holds a grading'),
])
def test_grade_archive_refuses_what_it_cannot_grade_in_one_line(
    tmp_path, model_info, capsys, manifest_text, model, needle):
  if manifest_text is not None:
    (tmp_path / 'manifest.csv').write_text(manifest_text)
  out = tmp_path / 'out'
  if model == 'graded':
    out.mkdir()
    (out / 'summary.json').write_text('{}')
  model_dir = str(tmp_path / 'no_model') if model == 'no_model' else model_info
  _one_line(capsys, cli.main(['grade-archive', '--manifest', str(tmp_path / 'manifest.csv'),
                              '--model', model_dir, '--output', str(out)]), 2,
            'palsy-tfx grade-archive: error: ', needle)


KUBEFLOW = ['kubeflow', 'compile', '--pipeline-root', 'gs://bucket/root',
            '--image', 'registry/palsy-tfx:1', '--serving-dir', 'gs://bucket/serving',
            '--gpus', '0']


def test_compile_of_a_remote_manifest_without_a_fingerprint_names_the_flag(tmp_path, capsys):
  _one_line(capsys, cli.main(KUBEFLOW + ['--manifest', 'gs://bucket/m.csv', '--output',
                                         str(tmp_path / 'p.yaml')]), 2,
            '--manifest gs://bucket/m.csv is remote', '--input-fingerprint')


def test_compile_that_cannot_reach_the_bucket_gives_up_and_names_grades(tmp_path, capsys,
                                                                        monkeypatch):
  """A bucket with no route: the read never answers (here a stand-in that blocks for ever,
  as a socket to an unroutable address does until the network gives up)."""
  from components.video_ingest import manifest  # pylint: disable=g-import-not-at-top
  forever = threading.Event()
  monkeypatch.setattr(manifest, 'grades_present', lambda *_: forever.wait() and [])
  try:
    _one_line(capsys, cli.main(KUBEFLOW + [
        '--manifest', 'gs://bucket/m.csv', '--input-fingerprint', 'v1', '--read-timeout',
        '0.5', '--output', str(tmp_path / 'p.yaml')]), 2,
              'reading gs://bucket/m.csv for its grades at compile time: no answer in 0.5 s',
              '--read-timeout', '--grades')
  finally:
    forever.set()
  assert not (tmp_path / 'p.yaml').exists()


def test_compile_of_gpus_without_a_gpu_image_names_both_flags(tmp_path, capsys):
  argv = [a for a in KUBEFLOW if a not in ('--gpus', '0')]
  _one_line(capsys, cli.main(argv + ['--manifest', 'gs://bucket/m.csv', '--input-fingerprint',
                                     'v1', '--grades', 'normal', '--output',
                                     str(tmp_path / 'p.yaml')]), 2,
            '--gpus 1 asks for GPUs, but without --gpu-image', '--gpus 0')
  assert not (tmp_path / 'p.yaml').exists()


def test_compile_refuses_a_package_that_is_not_yaml(tmp_path, capsys):
  _one_line(capsys, cli.main(KUBEFLOW + ['--manifest', 'gs://bucket/m.csv',
                                         '--input-fingerprint', 'v1', '--grades', 'normal',
                                         '--output', str(tmp_path / 'p.json')]), 2,
            '--output must end with .yaml')


def test_submit_to_a_server_that_is_not_there_exits_1(tmp_path, capsys):
  package = tmp_path / 'p.yaml'
  package.write_text('{}')
  _one_line(capsys, cli.main(['kubeflow', 'submit', '--package', str(package), '--host',
                              'http://127.0.0.1:9']), 1, 'error: ')


@pytest.mark.slow
def test_a_stage_that_stops_the_run_on_purpose_says_why_without_a_traceback(
    tmp_path, no_face_images, key, capsys):
  """Media without a single face: ingest stops the run (``RunStopped``) after reporting
  each input; the command's last line is that stop, and nothing is a traceback."""
  write_jpeg(str(tmp_path / 'coffee.jpg'), no_face_images['coffee'])
  manifest_path = tmp_path / 'manifest.csv'
  manifest_path.write_text(MANIFEST_HEADER + 'coffee.jpg,s1,normal,stills\n')
  code = cli.main(['run', '--manifest', str(manifest_path), '--pipeline-root',
                   str(tmp_path / 'root'), '--stop-after', 'ingest'])
  captured = capsys.readouterr()
  assert code == 2
  assert 'Traceback' not in captured.err + captured.out
  assert captured.err.splitlines()[-1] == (f'error: {manifest_path}: no face crops were '
                                           'produced; see the failed inputs above')
