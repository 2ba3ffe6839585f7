"""Is the Trainer's input pipeline the bottleneck? ``fit`` throughput with the real
TFRecord input (decode, resize, augment, normalise) vs the very same kind of batches
already in memory, measured side by side in one run.

  .venv/bin/python bench/train_input.py [--model fp_vggface] [--image-size 96] [--steps 20]

Last line: {"vs_in_memory": ...}  (target >= 0.9)
"""
import argparse
import json
import tempfile
import time

import _common  # pylint: disable=unused-import
import tensorflow as tf

from trainer import data, presets
from trainer.model import build_classifier


def fit_rate(model, dataset, steps, batch):
  model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up: tracing, caches
  start = time.perf_counter()
  model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
  return steps * batch / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default='fp_vggface')
  parser.add_argument('--image-size', type=int, default=96)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--examples', type=int, default=256)
  args = parser.parse_args()
  preset = presets.PRESETS[args.model]
  batch = preset.batch_size
  path = tempfile.mktemp(suffix='.tfrecord.gz')
  _common.write_face_records(path, args.examples)
  real = data.dataset(path, args.image_size, preset.normalisation, batch, training=True,
                      repeat=True)
  in_memory = [b for b, _ in zip(real, range(8))]
  memory = tf.data.Dataset.from_tensor_slices(
      (tf.concat([x for x, _ in in_memory], 0), tf.concat([y for _, y in in_memory], 0))
  ).batch(batch).cache().repeat().prefetch(tf.data.AUTOTUNE)
  model = build_classifier(preset, args.image_size, 'none')
  rates = {}
  for name, ds in (('tfrecord', real), ('in_memory', memory), ('tfrecord_again', real)):
    rates[name] = fit_rate(model, ds, args.steps, batch)
    print(f'{name:15s} {rates[name]:7.1f} images/s', flush=True)
  real_rate = (rates['tfrecord'] + rates['tfrecord_again']) / 2
  print(f'model {args.model} at {args.image_size}px, batch {batch}, on '
        f'{"GPU" if tf.config.list_physical_devices("GPU") else "CPU"}')
  print(json.dumps({'vs_in_memory': round(real_rate / rates['in_memory'], 3),
                    'tfrecord_images_per_s': round(real_rate, 1),
                    'in_memory_images_per_s': round(rates['in_memory'], 1)}))


if __name__ == '__main__':
  main()
