"""The command line answers --help without loading TensorFlow, and runs quiet unless asked.

Each check runs in a fresh interpreter: this test process may already hold TensorFlow
and the log settings of other tests.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from pipeline.cli import main as cli
from preprocessing import logs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = ('WARNING', 'Warning:', 'W0000', 'cuda')  # TF, absl C++, Python warnings, CUDA
HEAVY = ('tensorflow', 'tfx', 'apache_beam', 'keras', 'ml_metadata',
         'tensorflow_model_analysis')


def _python(*args, verbose=False):
  """Run this interpreter in the repository, with none of the log settings that the
  test session or the user's shell may hold."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONWARNINGS', logs.VERBOSE_ENV)}
  if verbose:
    env[logs.VERBOSE_ENV] = '1'
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, check=True, timeout=300)


@pytest.mark.parametrize('command', [[], ['run'], ['sample-data'], ['leakage'], ['headline'],
                                     ['predict'], ['kubeflow'], ['kubeflow', 'compile'],
                                     ['kubeflow', 'submit'], ['serving'],
                                     ['serving', 'config'], ['monitor']])
def test_help_prints_usage_and_no_warnings(command):
  done = _python('-m', 'pipeline.cli.main', *command, '--help')
  assert done.stdout.startswith(f'usage: palsy-tfx {" ".join(command)}'.rstrip())
  assert '--verbose' in done.stdout
  noisy = [line for line in (done.stdout + done.stderr).splitlines()
           if any(word in line for word in NOISE)]
  assert noisy == []
  assert done.stderr == ''


def test_building_the_parser_loads_no_tensorflow():
  done = _python('-c', textwrap.dedent('''
      import sys
      from pipeline.cli import main as cli
      cli.build_parser()
      print(' '.join(sorted(sys.modules)))'''))
  loaded = done.stdout.split()
  assert 'pipeline.cli.main' in loaded
  assert [m for m in loaded if m.split('.')[0] in HEAVY] == []


@pytest.mark.parametrize('argv,expected', [
    (['run', '--manifest', 'm.csv', '--pipeline-root', 'r'], False),
    (['--verbose', 'run', '--manifest', 'm.csv', '--pipeline-root', 'r'], True),
    (['run', '--manifest', 'm.csv', '--pipeline-root', 'r', '--verbose'], True),
    (['sample-data', '--verbose', '--output', 'o'], True),
    (['--verbose', 'sample-data', '--output', 'o'], True),
])
def test_verbose_is_accepted_before_and_after_the_subcommand(argv, expected):
  assert cli.build_parser().parse_args(argv).verbose is expected


@pytest.mark.parametrize('command', ['headline', 'report'])  # 'report': its former name
def test_headline_without_a_report_says_so_and_fails(command, tmp_path, capsys):
  assert cli.main([command, '--pipeline-root', str(tmp_path)]) == 1
  assert 'no evidence report in' in capsys.readouterr().err


def test_python_dash_m_pipeline_cli_is_the_command():
  done = _python('-m', 'pipeline.cli', 'sample-data', '--help')
  assert done.stdout.startswith('usage: palsy-tfx sample-data')


def test_numeric_labels_is_undeclared_unless_given():
  parser = cli.build_parser()
  base = ['run', '--manifest', 'm.csv', '--pipeline-root', 'r']
  assert parser.parse_args(base).numeric_labels is None
  assert parser.parse_args(base + ['--numeric-labels', 'hb']).numeric_labels == 'hb'
  with pytest.raises(SystemExit):
    parser.parse_args(base + ['--numeric-labels', '1-6'])


def test_every_preset_field_has_its_override_flag():
  import dataclasses  # pylint: disable=g-import-not-at-top
  from pipeline import options  # pylint: disable=g-import-not-at-top
  from trainer.presets import Preset  # pylint: disable=g-import-not-at-top
  assert sorted(field for _, field, _ in options.PRESET_FLAGS) == sorted(
      f.name for f in dataclasses.fields(Preset))


def test_run_leakage_and_kubeflow_compile_take_the_same_pipeline_options():
  """One declaration (pipeline.options) for every runner: the flags a local run takes
  for the pipeline, Kubeflow takes too (leakage has no gates or serving: it gates nothing
  and pushes nothing)."""
  subcommands = cli.build_parser()._subparsers._group_actions[0].choices  # pylint: disable=protected-access
  kubeflow = subcommands['kubeflow']._subparsers._group_actions[0].choices  # pylint: disable=protected-access

  def flags(parser):
    return {s for a in parser._actions for s in a.option_strings}  # pylint: disable=protected-access
  local_only = {'--pipeline-root', '--stop-after', '--summary-json'}
  assert flags(subcommands['run']) - local_only <= flags(kubeflow['compile'])
  assert flags(subcommands['leakage']) - {'--output'} <= flags(subcommands['run'])
  assert flags(kubeflow['compile']) <= flags(kubeflow['submit'])


def test_run_parses_into_the_option_records():
  from pipeline import options  # pylint: disable=g-import-not-at-top
  args = cli.build_parser().parse_args([
      'run', '--manifest', 'm.csv', '--pipeline-root', 'r', '--source-fps', '{"yfp": 4}',
      '--split-ratios', '0.5', '0.25', '0.25', '--epochs', '3', '--model', 'demo',
      '--beam-arg=--direct_num_workers=2', '--no-cache', '--model-name', 'p2'])
  data = options.DataOptions.from_args(args)
  assert (data.source_fps, data.split_ratios, data.split_by) == (
      {'yfp': 4.0}, (0.5, 0.25, 0.25), 'subject')
  model = options.ModelOptions.from_args(args)
  assert model.custom_config() == {'preset': 'demo', 'overrides': {'epochs': 3}, 'seed': 42,
                                   'image_size': 224, 'weights': '',
                                   'mixed_precision': 'auto', 'jit_compile': 'auto'}
  runtime = options.RuntimeOptions.from_args(args)
  assert runtime.beam_pipeline_args(['--default']) == ['--direct_num_workers=2']
  assert not runtime.enable_cache
  assert options.RuntimeOptions().beam_pipeline_args(['--default']) == ['--default']
  assert options.ServingOptions.from_args(args) == options.ServingOptions('p2', None)


def test_the_serving_checks_latency_limits_parse_and_a_bad_one_fails():
  from pipeline import options  # pylint: disable=g-import-not-at-top
  args = cli.build_parser().parse_args(['run', '--manifest', 'm.csv', '--pipeline-root', 'r',
                                        '--max-p99-ms', '500', '8000'])
  assert options.ServingOptions.from_args(args).max_p99_ms == (500.0, 8000.0)
  with pytest.raises(ValueError, match=r'--max-p99-ms takes two limits > 0'):
    options.ServingOptions(max_p99_ms=(500.0, 0.0))


def test_beam_workers_expands_before_the_beam_args_and_a_bad_spec_fails_at_once(capsys):
  from pipeline import options  # pylint: disable=g-import-not-at-top
  args = cli.build_parser().parse_args([
      'run', '--manifest', 'm.csv', '--pipeline-root', 'r', '--beam-arg=--job_server_timeout=9',
      '--beam-workers', 'external:job=localhost:8099,pool=localhost:50000'])
  assert options.RuntimeOptions.from_args(args).beam_pipeline_args(['--default']) == [
      '--runner=PortableRunner', '--job_endpoint=localhost:8099', '--environment_type=EXTERNAL',
      '--environment_config=localhost:50000', '--job_server_timeout=604800',
      '--job_server_timeout=9']  # the user's --beam-arg comes last, so it wins
  assert cli.main(['run', '--manifest', 'm.csv', '--pipeline-root', 'r',
                   '--beam-workers', 'external:job=localhost:8099']) == 2
  assert "error: --beam-workers 'external:job=localhost:8099': pool=HOST:PORT is missing" in (
      capsys.readouterr().err)


def test_run_without_a_pseudonym_key_stops_before_any_work(tmp_path, capsys, monkeypatch):
  """Not the demo data, and no key: exit 2 with the reason, and no pipeline root made."""
  monkeypatch.delenv('PALSY_PSEUDONYM_KEY', raising=False)
  monkeypatch.delenv('PALSY_PSEUDONYM_KEY_FILE', raising=False)
  (tmp_path / 'a.jpg').write_bytes(b'')
  manifest = tmp_path / 'manifest.csv'
  manifest.write_text('path,subject_id,label,source\na.jpg,s1,normal,yfp\n')
  root = tmp_path / 'root'
  assert cli.main(['run', '--manifest', str(manifest), '--pipeline-root', str(root)]) == 2
  err = capsys.readouterr().err
  assert err.startswith(f'error: {manifest}: no pseudonym key is set.'), err
  assert 'PALSY_PSEUDONYM_KEY_FILE' in err
  assert not root.exists()


def test_the_salt_option_is_gone(capsys):
  with pytest.raises(SystemExit):
    cli.build_parser().parse_args(['run', '--manifest', 'm.csv', '--pipeline-root', 'r',
                                   '--salt', 'x'])
  assert 'unrecognized arguments: --salt x' in capsys.readouterr().err


# A library warning and INFO line in this process, then a Beam worker's stand-in: a
# child interpreter that warns as Google's client libraries do on import.
_LIBRARY_NOISE = textwrap.dedent('''
    import logging, subprocess, sys
    from absl import logging as absl_logging
    from preprocessing import logs
    logs.configure_libraries()
    logging.getLogger('apache_beam.runners').warning('beam warns')
    absl_logging.info('tfx informs')
    subprocess.run([sys.executable, '-c',
                    'import warnings; warnings.warn("worker warns", FutureWarning)'])
    print('verbose' if logs.verbose() else 'quiet')
''')


@pytest.mark.slow
def test_libraries_are_quiet_by_default_also_in_child_processes():
  done = _python('-c', _LIBRARY_NOISE + 'import google.api_core, tensorflow\n')
  assert done.stdout == 'quiet\n'
  assert done.stderr == ''


def test_verbose_lets_the_libraries_speak_also_in_child_processes():
  done = _python('-c', _LIBRARY_NOISE, verbose=True)
  assert done.stdout == 'verbose\n'
  for line in ('beam warns', 'tfx informs', 'FutureWarning: worker warns'):
    assert line in done.stderr
