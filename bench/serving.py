"""What does the serving signature add? ``serving_default`` on 32 serialized
tf.Examples (parse, decode, resize, normalise, model) vs a raw model call on the same
32 faces already decoded and normalised, measured side by side in one run.

  .venv/bin/python bench/serving.py [--model fp_vggface] [--image-size 224] [--head plain]
      [--crop-size N] [--repeats 5]

The crops are stored at the model's size unless --crop-size says otherwise, as an ingest
with --ingest-image-size equal to --image-size stores them.

Last line: {"vs_raw_model": ...}  (target <= 1.15)
"""
import argparse
import json
import tempfile

import _common
import numpy as np
import tensorflow as tf

from preprocessing import contract, image_ops
from trainer import export, presets
from trainer.model import build_classifier

BATCH = 32


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default='fp_vggface')
  parser.add_argument('--image-size', type=int, default=224)
  parser.add_argument('--head', default=None, help="the preset's head unless given")
  parser.add_argument('--crop-size', type=int, default=None,
                      help='size of the stored JPEG crops (default: --image-size)')
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  preset = presets.resolve(args.model, {'head': args.head})
  path = tempfile.mktemp(suffix='.tfrecord.gz')
  _common.write_face_records(path, BATCH, args.crop_size or args.image_size)
  serialized = tf.constant([r.numpy() for r in
                            tf.data.TFRecordDataset(path, compression_type='GZIP')])
  model = build_classifier(preset, args.image_size, 'none')
  export_dir = tempfile.mkdtemp()
  export.export(model, export_dir, args.image_size, preset.normalisation, {})
  serve = tf.saved_model.load(export_dir).signatures['serving_default']
  jpegs = tf.io.parse_example(
      serialized, {contract.IMAGE: tf.io.FixedLenFeature([], tf.string)})[contract.IMAGE]
  decoded = image_ops.preprocess_bytes(jpegs, args.image_size, preset.normalisation)
  raw = tf.function(lambda x: model(x, training=False))
  t_serve, t_raw = _common.best_of_each(
      [lambda: serve(examples=serialized)['probabilities'].numpy(),
       lambda: raw(decoded).numpy()], args.repeats)
  same = np.allclose(serve(examples=serialized)['probabilities'].numpy(), raw(decoded).numpy(),
                     atol=1e-5)
  print(f'model {args.model} ({preset.head} head) at {args.image_size}px from '
        f'{args.crop_size or args.image_size}px crops, batch {BATCH}: serving_default '
        f'{t_serve * 1000:.0f} ms, raw model {t_raw * 1000:.0f} ms, same output: {same}')
  print(json.dumps({'vs_raw_model': round(t_serve / t_raw, 3),
                    'serving_ms_per_batch': round(t_serve * 1000, 1),
                    'raw_ms_per_batch': round(t_raw * 1000, 1)}))


if __name__ == '__main__':
  main()
