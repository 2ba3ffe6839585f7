"""The Trainer's speed on its devices: for each preset, with and without mixed precision
and XLA, images per second through ``fit`` on the real input, the share of the step time
spent waiting on that input, and the peak device memory. One JSON line per configuration.

  .venv/bin/python bench/train_gpu.py [--presets fp_vggface vgg16 ...] [--image-size 224]
      [--steps 20] [--examples 256]
  .venv/bin/python bench/train_gpu.py --tiny      # the CPU check the tests run: minutes

It places the model as the Trainer does (``trainer.placement``: MirroredStrategy over
every GPU it sees, else the CPU) with the Trainer's optimiser and learning-rate rule, on
random weights (the speed is the same). Per configuration:

* ``images_per_s``: the mean of two timed ``fit`` runs of ``--steps`` steps on the real
  gzip-TFRecord input (decode, resize, augment, normalise: ``trainer.data.dataset``),
  after a warm-up run that traces and compiles (its seconds are ``warmup_s``);
* ``input_wait_share``: ``1 - images_per_s / in_memory_images_per_s``, where the latter is
  the same model fed the same kind of batches already in memory, timed between the two
  real-input runs. 0 when input keeps up;
* ``peak_device_memory_mb``: TensorFlow's peak bytes in use on the busiest GPU since the
  configuration started (``tf.config.experimental.get_memory_info``); null on the CPU,
  which TensorFlow does not count, where ``peak_rss_mb`` is the process's peak so far.

Each configuration runs in a process of its own (``--one``), so one that fails (XLA
cannot compile it, memory runs out, the process aborts) prints its line with ``error``
and the rest go on, every peak is that configuration's alone, and no MirroredStrategy
meets an earlier one's all-reduces (each strategy in a process numbers them from the
same start, and another model's of the same number fails).
"""
import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import _common
import tensorflow as tf

from trainer import data, optimizers, placement, presets
from trainer.model import build_classifier

TINY = {'presets': ['demo'], 'image_size': 32, 'steps': 2, 'examples': 16}
SWITCHES = [(mixed, xla) for mixed in ('off', 'on') for xla in ('off', 'on')]


def fit_seconds(model, dataset, steps: int) -> float:
  start = time.perf_counter()
  model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
  return time.perf_counter() - start


def in_memory(dataset, batches: int) -> tf.data.Dataset:
  """``batches`` batches of ``dataset`` held in memory and repeated: input at no cost."""
  held = [b for b, _ in zip(dataset, range(batches))]
  return tf.data.Dataset.from_tensor_slices(
      (tf.concat([x for x, _ in held], 0), tf.concat([y for _, y in held], 0))
  ).batch(int(held[0][0].shape[0])).cache().repeat().prefetch(tf.data.AUTOTUNE)


def memory_name(device: str) -> str:
  """``GPU:0`` for ``/device:GPU:0``: the short form TensorFlow's memory statistics take."""
  return device.rsplit('device:', 1)[-1]


def peak_memory_mb(gpus) -> float:
  return max(tf.config.experimental.get_memory_info(memory_name(g))['peak']
             for g in gpus) / 2 ** 20


def measure(name: str, mixed: str, xla: str, records: str, args) -> dict:
  """One configuration's line, in this process (``--one``)."""
  gpus = placement.gpus()
  placed = placement.choose(gpus, mixed, xla)
  preset = presets.PRESETS[name]
  batch = preset.batch_size * placed.replicas
  for gpu in gpus:
    tf.config.experimental.reset_memory_stats(memory_name(gpu))
  # The model's own announcements (random weights) go to stderr: stdout is the JSON.
  with placed.strategy.scope(), contextlib.redirect_stdout(sys.stderr):
    optimizer, _ = optimizers.build(preset, placed.replicas, warmup_steps=args.steps)
    model = build_classifier(preset, args.image_size, 'none', optimizer, placed.jit_compile)
  real = data.dataset(records, args.image_size, preset.normalisation, batch, training=True,
                      repeat=True, seed=0)
  memory = in_memory(real, 4)
  warmup = fit_seconds(model, real, 2) + fit_seconds(model, memory, 2)
  seconds = [fit_seconds(model, real, args.steps), fit_seconds(model, memory, args.steps),
             fit_seconds(model, real, args.steps)]
  rate = 2 * args.steps * batch / (seconds[0] + seconds[2])
  memory_rate = args.steps * batch / seconds[1]
  return {'preset': name, 'backbone': preset.backbone, 'image_size': args.image_size,
          'mixed_precision': placed.mixed_precision, 'jit_compile': bool(model.jit_compile),
          'devices': list(placed.devices) or ['CPU'], 'global_batch': batch,
          'steps': args.steps, 'images_per_s': round(rate, 2),
          'in_memory_images_per_s': round(memory_rate, 2),
          'input_wait_share': round(max(0.0, 1 - rate / memory_rate), 3),
          'warmup_s': round(warmup, 1),
          'peak_device_memory_mb': round(peak_memory_mb(gpus), 1) if gpus else None,
          'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def in_its_own_process(name: str, mixed: str, xla: str, records: str, args) -> dict:
  """``measure`` in a fresh Python; a failure, even a crash, becomes a line with ``error``."""
  done = subprocess.run(
      [sys.executable, os.path.abspath(__file__), '--one', name, mixed, xla,
       '--records', records, '--image-size', str(args.image_size), '--steps', str(args.steps)],
      capture_output=True, text=True, check=False)
  lines = [line for line in done.stdout.splitlines() if line.startswith('{')]
  if done.returncode == 0 and lines:
    return json.loads(lines[-1])
  last = (done.stderr.strip().splitlines() or ['no output'])[-1]
  return {'preset': name, 'mixed_precision': mixed == 'on', 'jit_compile': xla == 'on',
          'error': f'exit {done.returncode}: {last[:500]}'}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--presets', nargs='+', choices=sorted(presets.PRESETS),
                      default=list(presets.PRESETS))
  parser.add_argument('--image-size', type=int, default=224)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--examples', type=int, default=256)
  parser.add_argument('--tiny', action='store_true',
                      help=f'the CPU check: {", ".join(f"{k} {v}" for k, v in TINY.items())}')
  parser.add_argument('--one', nargs=3, metavar=('PRESET', 'MIXED', 'XLA'),
                      help='measure one configuration in this process (what each process '
                           'the others start runs), on --records')
  parser.add_argument('--records', help='with --one: the gzip TFRecords to read')
  args = parser.parse_args()
  if args.one:
    name, mixed, xla = args.one
    try:
      line = measure(name, mixed, xla, args.records, args)
    except Exception as e:  # pylint: disable=broad-except
      line = {'preset': name, 'mixed_precision': mixed == 'on', 'jit_compile': xla == 'on',
              'error': f'{type(e).__name__}: {str(e)[:500]}'}
    print(json.dumps(line), flush=True)
    return
  if args.tiny:
    vars(args).update(TINY)
  with tempfile.TemporaryDirectory() as work:
    records = os.path.join(work, 'crops.tfrecord.gz')
    _common.write_face_records(records, args.examples, crop_size=args.image_size)
    for name in args.presets:
      for mixed, xla in SWITCHES:
        print(json.dumps(in_its_own_process(name, mixed, xla, records, args)), flush=True)


if __name__ == '__main__':
  main()
