"""What does the serving signature add? ``serving_default`` on 32 serialized
tf.Examples (parse, decode, resize, normalise, model) vs a raw model call on the same
32 faces already decoded and normalised, measured side by side in one run.

  .venv/bin/python bench/serving.py [--model fp_vggface] [--image-size 224] [--repeats 5]

Last line: {"vs_raw_model": ...}  (target <= 1.15)
"""
import argparse
import json
import tempfile

import _common
import numpy as np
import tensorflow as tf

from preprocessing import image_ops
from trainer import export, presets
from trainer.model import build_classifier

BATCH = 32


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default='fp_vggface')
  parser.add_argument('--image-size', type=int, default=224)
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  preset = presets.PRESETS[args.model]
  path = tempfile.mktemp(suffix='.tfrecord.gz')
  _common.write_face_records(path, BATCH)
  serialized = tf.constant([r.numpy() for r in
                            tf.data.TFRecordDataset(path, compression_type='GZIP')])
  model = build_classifier(preset, args.image_size, 'none')
  export_dir = tempfile.mkdtemp()
  export.export(model, export_dir, args.image_size, preset.normalisation, {})
  serve = tf.saved_model.load(export_dir).signatures['serving_default']
  jpegs = tf.io.parse_example(serialized, {'image': tf.io.FixedLenFeature([], tf.string)})['image']
  decoded = image_ops.preprocess_bytes(jpegs, args.image_size, preset.normalisation)
  raw = tf.function(lambda x: model(x, training=False))
  t_serve = _common.best_of(lambda: serve(examples=serialized)['probabilities'].numpy(),
                            args.repeats)
  t_raw = _common.best_of(lambda: raw(decoded).numpy(), args.repeats)
  same = np.allclose(serve(examples=serialized)['probabilities'].numpy(), raw(decoded).numpy(),
                     atol=1e-5)
  print(f'model {args.model} at {args.image_size}px, batch {BATCH}: serving_default '
        f'{t_serve * 1000:.0f} ms, raw model {t_raw * 1000:.0f} ms, same output: {same}')
  print(json.dumps({'vs_raw_model': round(t_serve / t_raw, 3),
                    'serving_ms_per_batch': round(t_serve * 1000, 1),
                    'raw_ms_per_batch': round(t_raw * 1000, 1)}))


if __name__ == '__main__':
  main()
