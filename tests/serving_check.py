"""Load a pushed SavedModel the way TF Serving does (serve tag, named signatures) in a
fresh process and call both signatures on the same faces. Prints one JSON line."""
import json
import sys

import numpy as np
import tensorflow as tf


def main(model_dir: str, tfrecord: str) -> None:
  loaded = tf.saved_model.load(model_dir, tags=['serve'])
  examples, images = [], []
  for record in tf.data.TFRecordDataset([tfrecord], compression_type='GZIP').take(4):
    examples.append(record.numpy())
    images.append(tf.train.Example.FromString(record.numpy())
                  .features.feature['image'].bytes_list.value[0])
  by_example = loaded.signatures['serving_default'](examples=tf.constant(examples))
  by_image = loaded.signatures['serving_images'](images=tf.constant(images))
  p1, p2 = by_example['probabilities'].numpy(), by_image['probabilities'].numpy()
  print(json.dumps({
      'signatures': sorted(loaded.signatures.keys()),
      'shape': list(p1.shape),
      'identical': bool(np.array_equal(p1, p2)),
      'row_sums': p1.sum(axis=1).tolist(),
      'grades': [g.decode() for g in by_example['grade'].numpy()],
      'grades_from_images': [g.decode() for g in by_image['grade'].numpy()],
  }))


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2])
