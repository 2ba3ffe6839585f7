"""Where the Trainer trains and in what arithmetic: the strategy over its devices, mixed
precision and XLA.

``choose`` takes the devices to replicate over, not the GPUs it finds, so a test process
with two logical CPU devices gets exactly what two GPUs get (tests/test_multi_device.py);
``gpus`` lists the GPUs TensorFlow sees, for the Trainer itself. One GPU gets a
MirroredStrategy too, so one path serves one GPU and eight.

Both switches take ``auto``, ``on`` or ``off`` (``--mixed-precision``, ``--jit-compile``):

* **Mixed precision** ``auto`` is on with accelerators (float16 maths, float32 variables,
  the loss scaled by Keras's LossScaleOptimizer so small gradients do not flush to 0) and
  off on the CPU, where float16 is emulated and slower.
* **XLA** ``auto`` is on with exactly one accelerator, off with several and on the CPU.
  Keras 3.6's own ``jit_compile='auto'`` turns XLA off under any tf.distribute strategy,
  which would leave every GPU run (all of them use MirroredStrategy) without it; so
  ``auto`` is resolved here, and Keras gets True or False. Off with several replicas
  because Keras 3.6 cannot run one XLA-compiled step on each of several devices: replica
  1's step is run where replica 0's was compiled and fails ("Trying to access resource
  .../replica_1 located in device ...:1 from device ...:0"; keras-team/keras#19005, after
  which Keras disabled XLA under tf.distribute). ``on`` asks for it anyway, to try it on a
  new Keras or on a GPU machine (the log warns); ``off`` is the way back if XLA fails to
  compile a model on some GPU. tests/two_replicas.py keeps the failure in view.
"""
import dataclasses
from typing import List, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from trainer.presets import DEFAULT_JIT_COMPILE, DEFAULT_MIXED_PRECISION, check_switch


@dataclasses.dataclass(frozen=True)
class Placement:
  strategy: tf.distribute.Strategy
  devices: Tuple[str, ...]  # what the strategy replicates over; () the CPU, undistributed
  mixed_precision: bool
  jit_compile: bool

  @property
  def replicas(self) -> int:
    return self.strategy.num_replicas_in_sync

  def describe(self) -> str:
    where = (f'{self.replicas} replica(s) on {", ".join(self.devices)} (MirroredStrategy)'
             if self.devices else 'the CPU')
    return (f'{where}, mixed precision {"on" if self.mixed_precision else "off"}, '
            f'XLA {"on" if self.jit_compile else "off"}')

  def warning(self) -> Optional[str]:
    """What the log must say about this placement, if anything."""
    if self.jit_compile and self.replicas > 1:
      return (f'--jit-compile on over {self.replicas} replicas: Keras 3.6 cannot run an '
              'XLA-compiled step on each of several devices (keras-team/keras#19005); if '
              'the first step fails, use --jit-compile auto (off over several replicas)')
    return None

  def record(self) -> dict:
    """For ``palsy_model.json``: what trained the model."""
    return {'devices': list(self.devices), 'replicas': self.replicas,
            'mixed_precision': self.mixed_precision, 'jit_compile': self.jit_compile}


def gpus() -> List[str]:
  """The logical GPUs TensorFlow sees, each with memory growth on, so the Beam workers,
  StatisticsGen and the Evaluator in the same machine do not find the memory taken."""
  for gpu in tf.config.list_physical_devices('GPU'):
    try:
      tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
      pass  # already initialised by an earlier component in this process
  return [d.name for d in tf.config.list_logical_devices('GPU')]


def switches(accelerators: int, mixed_precision: str = DEFAULT_MIXED_PRECISION,
             jit_compile: str = DEFAULT_JIT_COMPILE) -> Tuple[bool, bool]:
  """(mixed precision, XLA) for that many accelerators (0: the CPU), as the module's
  docstring says ``auto`` resolves."""
  check_switch('--mixed-precision', mixed_precision)
  check_switch('--jit-compile', jit_compile)
  mixed = mixed_precision == 'on' or (mixed_precision == 'auto' and accelerators > 0)
  jit = jit_compile == 'on' or (jit_compile == 'auto' and accelerators == 1)
  return mixed, jit


def choose(devices: Sequence[str], mixed_precision: str = DEFAULT_MIXED_PRECISION,
           jit_compile: str = DEFAULT_JIT_COMPILE) -> Placement:
  """MirroredStrategy over ``devices`` (the accelerators), or TensorFlow's default
  strategy on the CPU when there are none. Sets Keras's global dtype policy, which
  layers read when they are built: call it before building the model."""
  devices = tuple(devices)
  mixed, jit = switches(len(devices), mixed_precision, jit_compile)
  keras.mixed_precision.set_global_policy('mixed_float16' if mixed else 'float32')
  strategy = (tf.distribute.MirroredStrategy(list(devices)) if devices
              else tf.distribute.get_strategy())
  return Placement(strategy, devices, mixed, jit)
