"""A newcomer's first hour: every command of the README's table, as written there and with
its defaults, on the sample data, through the installed ``palsy-tfx``. The quick ones
run whole; ``run`` also runs with ``--stop-after ingest``, as a user inspecting their data
would. Whatever a command cannot do here (no VGGFace weights, no model, no cluster) it
must say in one line, at once: no traceback, anywhere.

HOME is a fresh folder, so the Keras cache is empty as on a new machine, whatever this
one holds.
"""
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # runs ingest

PALSY = os.path.join(os.path.dirname(sys.executable), 'palsy-tfx')
# (the command's words, and whether it is ingest-only) -> the exit code it must give here.
EXPECTED = {
    'sample-data': 0,
    'run --stop-after ingest': 0,   # the user's first look at their data
    'run': 2,                       # the default preset's weights are not on a new machine
    'headline': 1,                  # no evidence report before a run gets past the Evaluator
    'predict': 2,                   # no pushed model yet
    'grade-archive': 2,             # no pushed model yet
    'monitor': 2,                   # nothing graded yet
    'leakage': 2,                   # trains: the same weights
    'kubeflow compile': 0,
    'kubeflow submit': 2,           # needs a package or the compile options
    'serving config': 2,            # nothing pushed yet
}


def readme_commands():
  """The first column of the README's commands table: `palsy-tfx ...` lines."""
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
    return re.findall(r'^\| `palsy-tfx ([^`]+)` \|', f.read(), re.M)


def _name(command: str) -> str:
  words = command.split()
  return ' '.join(words[:2]) if words[0] in ('kubeflow', 'serving') else words[0]


def test_the_readme_lists_every_command_this_test_walks():
  assert sorted({_name(c) for c in readme_commands()}) == sorted(
      {k.replace(' --stop-after ingest', '') for k in EXPECTED})


@pytest.fixture(scope='module')
def walked(tmp_path_factory):
  base = tmp_path_factory.mktemp('first_hour')
  home, data, root = base / 'home', base / 'data', base / 'root'
  os.makedirs(home)
  (base / 'notes.txt').write_text('not a video')
  fill = {'CSV': str(data / 'manifest.csv'), 'URI': 'gs://bucket/palsy', 'URL':
          'http://127.0.0.1:9', 'IMAGE': 'registry.example/palsy-tfx:1',
          'VERSION_DIR': str(root / 'serving' / 'palsy' / '1'), 'V': '1',
          'PATH...': f'{data / "stills" / "demo-normal-000-0.jpg"} {base / "notes.txt"}',
          'PIPELINE_ROOT': str(root), r'OUT.json\|DIR': str(base / 'graded.json')}
  env = {k: v for k, v in os.environ.items() if not k.startswith('PALSY_')}
  env.update(HOME=str(home), PATH=os.path.dirname(sys.executable) + os.pathsep +
             env.get('PATH', ''))
  done = {}
  for command in readme_commands():
    name = _name(command)
    output = {'sample-data': data, 'grade-archive': base / 'archive'}.get(name, base / 'leakage')
    dirs = {'--output': str(output),
            '--pipeline-root': str(root), '--serving-dir': str(root / 'serving')}
    words, args = command.split(), []
    for i, word in enumerate(words):
      if word.startswith('[--'):  # an optional flag and its value: the defaults
        break
      if word == 'DIR':
        args.append(dirs[words[i - 1]])
      else:
        args.extend(fill.get(word, word).split())
    runs = [(name, args)]
    if name == 'run':
      runs.insert(0, ('run --stop-after ingest', args + ['--stop-after', 'ingest']))
    for key, argv in runs:
      done[key] = subprocess.run([PALSY, *argv], cwd=str(base), env=env, capture_output=True,
                                 text=True, timeout=1200)
  return done


@pytest.mark.parametrize('key', sorted(EXPECTED))
def test_each_documented_command_ends_as_it_should_without_a_traceback(walked, key):
  done = walked[key]
  out = done.stdout + done.stderr
  assert 'Traceback' not in out, out[-3000:]
  assert done.returncode == EXPECTED[key], out[-3000:]
  if EXPECTED[key]:
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and 'error: ' in lines[0], done.stderr


def test_what_the_failures_say(walked):
  assert 'pretrained weights rcmalli_vggface_tf_notop_vgg16.h5 not found' in (
      walked['run'].stderr)
  assert 'no evidence report in' in walked['headline'].stderr
  assert 'palsy_model.json not found' in walked['predict'].stderr
  assert 'palsy_model.json not found' in walked['grade-archive'].stderr
  assert 'graded.json: no such file or folder' in walked['monitor'].stderr
  assert 'nothing was pushed' in walked['serving config'].stderr
  # The ingest-only look at the data went through, and said what it found.
  assert 'Ingest summary' in walked['run --stop-after ingest'].stdout
