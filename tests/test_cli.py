"""The command line answers --help without loading TensorFlow, and runs quiet unless asked.

Each check runs in a fresh interpreter: this test process may already hold TensorFlow
and the log settings of other tests.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from pipeline import cli
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


@pytest.mark.parametrize('command', [[], ['run'], ['sample-data'], ['leakage'], ['report'],
                                     ['predict']])
def test_help_prints_usage_and_no_warnings(command):
  done = _python('-m', 'pipeline.cli', *command, '--help')
  assert done.stdout.startswith(f'usage: palsy-tfx {" ".join(command)}'.rstrip())
  assert '--verbose' in done.stdout
  noisy = [line for line in (done.stdout + done.stderr).splitlines()
           if any(word in line for word in NOISE)]
  assert noisy == []
  assert done.stderr == ''


def test_building_the_parser_loads_no_tensorflow():
  done = _python('-c', textwrap.dedent('''
      import sys
      from pipeline import cli
      cli.build_parser()
      print(' '.join(sorted(sys.modules)))'''))
  loaded = done.stdout.split()
  assert 'pipeline.cli' in loaded
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


def test_report_without_a_report_says_so_and_fails(tmp_path, capsys):
  assert cli.main(['report', '--pipeline-root', str(tmp_path)]) == 1
  assert 'no evidence report in' in capsys.readouterr().err


def test_numeric_labels_is_undeclared_unless_given():
  parser = cli.build_parser()
  base = ['run', '--manifest', 'm.csv', '--pipeline-root', 'r']
  assert parser.parse_args(base).numeric_labels is None
  assert parser.parse_args(base + ['--numeric-labels', 'hb']).numeric_labels == 'hb'
  with pytest.raises(SystemExit):
    parser.parse_args(base + ['--numeric-labels', '1-6'])


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


def test_libraries_are_quiet_by_default_also_in_child_processes():
  done = _python('-c', _LIBRARY_NOISE + 'import google.api_core, tensorflow\n')
  assert done.stdout == 'quiet\n'
  assert done.stderr == ''


def test_verbose_lets_the_libraries_speak_also_in_child_processes():
  done = _python('-c', _LIBRARY_NOISE, verbose=True)
  assert done.stdout == 'verbose\n'
  for line in ('beam warns', 'tfx informs', 'FutureWarning: worker warns'):
    assert line in done.stderr
