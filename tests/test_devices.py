"""The Trainer's GPU check (``trainer.devices``) on this machine, which has no GPU: with
``PALSY_REQUIRE_GPU=1`` (as the GPU image sets it) training must stop with the reason,
not fall back to the CPU; without it, it trains on the CPU and says so."""
import types

import pytest
import tensorflow as tf

from trainer import devices, task

pytestmark = pytest.mark.skipif(bool(tf.config.list_physical_devices('GPU')),
                                reason='these tests need a machine without a GPU')


def test_without_the_variable_it_trains_on_the_cpu_and_says_so(monkeypatch, capsys):
  monkeypatch.delenv(devices.REQUIRE_GPU_ENV, raising=False)
  assert devices.check() == ['/physical_device:CPU:0']
  assert capsys.readouterr().out == '[train] devices: /physical_device:CPU:0\n'


def test_zero_means_the_cpu_on_purpose(monkeypatch):
  monkeypatch.setenv(devices.REQUIRE_GPU_ENV, '0')
  assert devices.check() == ['/physical_device:CPU:0']


def test_a_required_gpu_that_is_absent_stops_with_the_reason(monkeypatch):
  monkeypatch.setenv(devices.REQUIRE_GPU_ENV, '1')
  with pytest.raises(devices.NoGpuError) as raised:
    devices.check()
  message = str(raised.value)
  assert message.startswith(
      f'PALSY_REQUIRE_GPU=1 but TensorFlow {tf.__version__} sees no GPU, so training would '
      'fall back to the CPU.')
  assert 'nvidia.com/gpu' in message and 'PALSY_REQUIRE_GPU=0' in message


def test_a_value_other_than_0_or_1_is_refused(monkeypatch):
  monkeypatch.setenv(devices.REQUIRE_GPU_ENV, 'yes')
  with pytest.raises(ValueError, match="PALSY_REQUIRE_GPU must be 1 .* or 0, got 'yes'"):
    devices.check()


def test_run_fn_checks_before_it_reads_any_data(monkeypatch):
  """The check is wired into the Trainer: run_fn stops before touching its (absent) files."""
  monkeypatch.setenv(devices.REQUIRE_GPU_ENV, '1')
  with pytest.raises(devices.NoGpuError):
    task.run_fn(types.SimpleNamespace(custom_config={}, hyperparameters=None,
                                      train_files=['/nonexistent/*']))
