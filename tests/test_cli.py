"""The command line answers --help without loading TensorFlow.

Each check runs in a fresh interpreter: this test process may already hold TensorFlow
and the log settings of other tests.
"""
import os
import subprocess
import sys
import textwrap

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = ('WARNING', 'Warning:', 'W0000', 'cuda')  # TF, absl C++, Python warnings, CUDA
HEAVY = ('tensorflow', 'tfx', 'apache_beam', 'keras', 'ml_metadata',
         'tensorflow_model_analysis')


def _python(*args):
  """Run this interpreter in the repository, with none of the log settings that the
  test session or the user's shell may hold."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONWARNINGS')}
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, check=True, timeout=300)


@pytest.mark.parametrize('command', [[], ['run'], ['sample-data']])
def test_help_prints_usage_and_no_warnings(command):
  done = _python('-m', 'pipeline.cli', *command, '--help')
  assert done.stdout.startswith(f'usage: palsy-tfx {" ".join(command)}'.rstrip())
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
