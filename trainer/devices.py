"""The Trainer's devices, and a stop when a GPU was asked for but TensorFlow sees none.

TensorFlow falls back to the CPU without an error when it cannot load its CUDA libraries
or reach the driver (a pod scheduled without its ``nvidia.com/gpu`` request, a node
without the driver, a CUDA wheel that does not load). Training then runs for days
instead of minutes, and looks healthy. The GPU Trainer image
(``kubeflow/docker/trainer-gpu.Dockerfile``) sets ``PALSY_REQUIRE_GPU=1``, so such a
run stops at once with the reason, and every run logs the devices it trains on.
"""
import os
from typing import List

import tensorflow as tf

from preprocessing.stops import RunStopped

REQUIRE_GPU_ENV = 'PALSY_REQUIRE_GPU'


class NoGpuError(RunStopped):
  """A GPU was required (``PALSY_REQUIRE_GPU=1``) and TensorFlow found none."""


def gpu_required() -> bool:
  """Whether ``PALSY_REQUIRE_GPU`` asks for a GPU: ``1`` yes, unset, empty or ``0`` no."""
  value = os.environ.get(REQUIRE_GPU_ENV, '').strip()
  if value not in ('', '0', '1'):
    raise ValueError(f'{REQUIRE_GPU_ENV} must be 1 (require a GPU) or 0, got {value!r}')
  return value == '1'


def _describe(device) -> str:
  """``/physical_device:GPU:0 (NVIDIA H100 80GB HBM3)``; a CPU by its name alone."""
  if device.device_type != 'GPU':
    return device.name
  name = tf.config.experimental.get_device_details(device).get('device_name')
  return f'{device.name} ({name})' if name else device.name


def check() -> List[str]:
  """Log the devices training will use and return their descriptions; raise
  ``NoGpuError`` when a GPU is required and none is visible."""
  gpus = tf.config.list_physical_devices('GPU')
  if gpu_required() and not gpus:
    build = tf.sysconfig.get_build_info()
    raise NoGpuError(
        f'{REQUIRE_GPU_ENV}=1 but TensorFlow {tf.__version__} sees no GPU, so training '
        'would fall back to the CPU. Check that the Trainer pod requests nvidia.com/gpu, '
        'that its node has the NVIDIA driver, and that this image\'s CUDA '
        f'{build.get("cuda_version", "?")} / cuDNN {build.get("cudnn_version", "?")} '
        'libraries load (TF_CPP_MAX_VLOG_LEVEL=3 shows why they do not). Set '
        f'{REQUIRE_GPU_ENV}=0 to train on the CPU on purpose.')
  described = [_describe(d) for d in (gpus or tf.config.list_physical_devices('CPU'))]
  print(f'[train] devices: {", ".join(described)}', flush=True)
  return described
