"""The Trainer on two logical CPU devices, handed to it as it would be two GPUs; run in a
fresh process by tests/test_multi_device.py, because the devices must be set before
TensorFlow initialises.

``python tests/two_replicas.py OUT`` (with ``XLA_FLAGS=--xla_dump_to=OUT/xla``) writes
``OUT/result.json`` and ``OUT/steps.npz`` with:

* ``OUT/steps.npz``: for SGD and for Adam, one step of the real classifier (fp_vggface's,
  no batch norm or dropout, whose per-replica statistics and masks would differ by
  design), built and compiled as ``run_fn`` does, on one global batch of the real input
  (``trainer.data.dataset``, augmentation and class weights included), on the two
  replicas and on one device: every trainable weight's update (after minus before) as
  ``<optimizer>_<where>_updates``, and for Adam its first moments, ``(1 - beta_1) x`` the
  gradient it was given, as ``adam_<where>_moments``; ``<where>`` is ``two`` or ``one``.
* ``xla``: one step of the demo classifier placed as on one GPU (one device, both
  switches ``auto``: mixed precision and XLA on), and the XLA modules dumped before and
  after it.
* the ``run_fn`` run: the demo preset trained for two steps with ``accelerators`` the two
  devices, mixed precision and XLA left on ``auto``, exported to ``OUT/serving``.
* ``xla_across_replicas``: the error Keras 3.6 raises when ``--jit-compile on`` is asked
  for over the two devices, or None if the step ran (then ``auto`` may turn XLA on with
  several GPUs: trainer/placement.py).
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices('CPU')[0], [tf.config.LogicalDeviceConfiguration()] * 2)
DEVICES = ['/cpu:0', '/cpu:1']

# pylint: disable=g-import-not-at-top,wrong-import-position
import keras

from preprocessing import contract
from trainer import data, optimizers, placement, presets
from trainer.model import build_classifier

SIZE = 32
PER_REPLICA = 4
GRADES_USED = 3
RECORDS = 24


def write_examples(root: str) -> list:
  """RECORDS crops of GRADES_USED grades in TFX's layout, ``root/Split-*/``, with ingest's
  summary beside them. Returns the train split's file pattern."""
  rng = np.random.default_rng(0)
  for split in ('train', 'eval'):
    os.makedirs(os.path.join(root, f'Split-{split}'), exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(root, f'Split-{split}', 'data.gz'),
                              options='GZIP') as w:
      for i in range(RECORDS):
        image = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
        image[..., i % GRADES_USED] //= 2  # a grade that can be learnt a little
        w.write(tf.train.Example(features=tf.train.Features(feature={
            contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[tf.io.encode_jpeg(image).numpy()])),
            contract.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(
                value=[i % GRADES_USED])),
            contract.VIDEO_ID: tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[b'v%d' % (i % 6)]))})).SerializeToString())
  per_grade = {'normal': 8, 'near_normal': 8, 'mild': 8}
  with open(os.path.join(root, contract.INGEST_SUMMARY_FILE), 'w') as f:
    json.dump({contract.EXAMPLES_PER_CLASS: {'train': per_grade, 'eval': per_grade}}, f)
  return [os.path.join(root, 'Split-train', '*')]


def new_collective_keys() -> None:
  """Let the next MirroredStrategy number its all-reduces apart from the earlier ones'.
  Each one in a process starts at the same keys, so a second strategy's all-reduce of
  another model meets the first's of the same number and fails ("Shape mismatch in the
  collective instance 100"); TensorFlow's own tests move this base for the same reason.
  The Trainer makes one strategy per process and is not affected."""
  tf.distribute.MirroredStrategy._collective_key_base += 10000  # pylint: disable=protected-access


def one_step(preset, train_files, strategy) -> dict:
  """One step on one global batch: every trainable weight's update, flattened into one
  array, and Adam's first moments after it (None for SGD)."""
  keras.utils.set_random_seed(0)
  with strategy.scope():
    optimizer, _ = optimizers.build(preset, strategy.num_replicas_in_sync, warmup_steps=1)
    model = build_classifier(preset, SIZE, 'none', optimizer)
  before = [w.numpy().copy() for w in model.trainable_weights]
  ds = data.dataset(train_files, SIZE, preset.normalisation,
                    PER_REPLICA * len(DEVICES), training=True, seed=0)
  weights = data.class_weights(data.class_counts(train_files))
  model.fit(ds, steps_per_epoch=1, epochs=1, class_weight=weights, verbose=0)
  flat = lambda arrays: np.concatenate([np.ravel(a) for a in arrays])
  moments = getattr(optimizer, '_momentums', None)  # Adam's m, one per trainable weight
  return {'updates': flat(w.numpy() - b for w, b in zip(model.trainable_weights, before)),
          'moments': None if moments is None else flat(m.numpy() for m in moments)}


def placed_step(train_files, devices, jit_compile: str) -> bool:
  """One step of the demo classifier placed by ``trainer.placement`` over ``devices``,
  both switches as given (mixed precision ``auto``); whether Keras compiled it with XLA."""
  keras.utils.set_random_seed(0)
  preset = presets.resolve('demo', {'batch_size': PER_REPLICA})
  new_collective_keys()
  placed = placement.choose(devices, 'auto', jit_compile)
  with placed.strategy.scope():
    optimizer, _ = optimizers.build(preset, placed.replicas, warmup_steps=1)
    model = build_classifier(preset, SIZE, 'none', optimizer, placed.jit_compile)
  model.fit(data.dataset(train_files, SIZE, preset.normalisation,
                         PER_REPLICA * placed.replicas, training=True, seed=0),
            steps_per_epoch=1, epochs=1, verbose=0)
  keras.mixed_precision.set_global_policy('float32')
  return bool(model.jit_compile)


def xla_across_replicas(train_files):
  """The error of an XLA step on the two devices, or None if it ran."""
  try:
    placed_step(train_files, DEVICES, 'on')
  except tf.errors.OpError as e:
    keras.mixed_precision.set_global_policy('float32')
    return next((line for line in e.message.splitlines() if 'Trying to access' in line),
                e.message[:500])
  return None


def main(out: str) -> None:
  from tfx.components.trainer.fn_args_utils import FnArgs
  from trainer import task
  examples = os.path.join(out, 'Examples')
  train_files = write_examples(examples)
  steps = {}
  for optimizer in ('sgd', 'adam'):
    preset = presets.resolve('fp_vggface', {'optimizer': optimizer, 'batch_size': PER_REPLICA})
    new_collective_keys()
    two = one_step(preset, train_files, tf.distribute.MirroredStrategy(DEVICES))
    one = one_step(preset, train_files, tf.distribute.OneDeviceStrategy(DEVICES[0]))
    for where, step in (('two', two), ('one', one)):
      steps.update({f'{optimizer}_{where}_{k}': v for k, v in step.items() if v is not None})
  np.savez(os.path.join(out, 'steps.npz'), **steps)
  dump = os.path.join(out, 'xla')
  modules = lambda: sorted(os.listdir(dump)) if os.path.isdir(dump) else []
  before = modules()
  xla = {'jit_compile': placed_step(train_files, DEVICES[:1], 'auto'),
         'before': before, 'after': modules()}
  new_collective_keys()
  task.run_fn(FnArgs(train_files=train_files,
                     eval_files=[os.path.join(examples, 'Split-eval', '*')], train_steps=2,
                     serving_model_dir=os.path.join(out, 'serving'),
                     model_run_dir=os.path.join(out, 'run'),
                     custom_config={'preset': 'demo', 'image_size': SIZE, 'seed': 1,
                                    'overrides': {'epochs': 2, 'batch_size': PER_REPLICA}}),
              accelerators=DEVICES)
  # Last: its failure leaves the process's collectives aborted ("Restart your program").
  across = xla_across_replicas(train_files)
  with open(os.path.join(out, 'result.json'), 'w') as f:
    json.dump({'xla': xla, 'xla_across_replicas': across}, f)


if __name__ == '__main__':
  main(sys.argv[1])
