"""The Trainer's tf.data input: gzip TFRecords of tf.Examples -> (image, one-hot grade).

Decoding and normalisation are preprocessing.image_ops' functions, the very ones the
serving signatures call. Augmentation happens only for training. ``frames`` is the
input of the passes after training, which also need each frame's video.
"""
from typing import Dict, List, Optional, Tuple

import json
import os

import numpy as np
import tensorflow as tf

from preprocessing import contract, crop_settings, image_ops
from preprocessing.labels import GRADES, NUM_GRADES
from trainer import augment

AUTOTUNE = tf.data.AUTOTUNE
_FEATURES = {contract.IMAGE: tf.io.FixedLenFeature([], tf.string),
             contract.LABEL: tf.io.FixedLenFeature([], tf.int64)}


def expand(file_patterns) -> List[str]:
  """TFX hands over glob patterns; expand them (and fail clearly on none)."""
  patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
  files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
  if not files:
    raise FileNotFoundError(f'no TFRecord files match {patterns}')
  return files


def crop_record(file_patterns) -> Optional[dict]:
  """How ingest made the crops in these files (``crop_settings.to_json``), read from the
  Examples artifact that holds them (TFX passes ``<artifact>/Split-<name>/*``); None for
  examples written before ingest recorded it."""
  path = os.path.join(_artifact_dir(file_patterns), crop_settings.CROP_SETTINGS_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.loads(f.read())


def records(file_patterns) -> tf.data.Dataset:
  return tf.data.TFRecordDataset(expand(file_patterns), compression_type='GZIP',
                                 num_parallel_reads=AUTOTUNE)


def _split_dir(file_patterns) -> str:
  """The split folder of these files: TFX passes ``<artifact>/Split-<name>/*``."""
  first = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
  return os.path.dirname(first[0])


def _artifact_dir(file_patterns) -> str:
  """The Examples artifact that holds these files' split folder."""
  return os.path.dirname(_split_dir(file_patterns))


def summary_class_counts(file_patterns) -> Optional[np.ndarray]:
  """Examples per grade of the split these files are, as ingest's summary beside their
  artifact counted them while writing them (``contract.INGEST_SUMMARY_FILE``); None when
  there is no summary, or it does not count this split (examples from elsewhere)."""
  split_dir = os.path.basename(_split_dir(file_patterns))
  path = os.path.join(_artifact_dir(file_patterns), contract.INGEST_SUMMARY_FILE)
  if not split_dir.startswith('Split-') or not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    per_class = json.load(f).get(contract.EXAMPLES_PER_CLASS, {})
  split = split_dir[len('Split-'):]
  if split not in per_class:
    return None
  return np.array([per_class[split].get(grade, 0) for grade in GRADES], np.int64)


def train_class_counts(file_patterns) -> Tuple[np.ndarray, str]:
  """Examples per grade of the train split, and where they came from: ingest's summary
  when it is there (no pass over the data), else one pass over the files' labels."""
  counts = summary_class_counts(file_patterns)
  if counts is not None:
    return counts, 'ingest summary'
  return class_counts(file_patterns), 'a pass over the train split'


def class_counts(file_patterns) -> np.ndarray:
  """Examples per grade in the given files (labels only, but every record is read)."""
  labels = records(file_patterns).batch(1024).map(
      lambda s: tf.io.parse_example(
          s, {contract.LABEL: _FEATURES[contract.LABEL]})[contract.LABEL])
  counts = np.zeros(NUM_GRADES, np.int64)
  for batch in labels:
    counts += np.bincount(batch.numpy(), minlength=NUM_GRADES)[:NUM_GRADES]
  return counts


def class_weights(counts: np.ndarray) -> Dict[int, float]:
  """Inverse-frequency weights (mean 1 over present grades); absent grades get 0."""
  present = counts > 0
  weights = np.zeros(NUM_GRADES)
  weights[present] = counts[present].sum() / (present.sum() * counts[present])
  return {i: float(w) for i, w in enumerate(weights)}


def dataset(file_patterns, image_size: int, normalisation: str, batch_size: int,
            training: bool, repeat: bool = False, seed: Optional[int] = None
            ) -> tf.data.Dataset:
  """Batches of (normalised images, one-hot labels).

  With a ``seed``, the shuffle order and every augmentation warp are reproducible
  (different in each epoch, the same in each run): tf.data keeps element order in its
  parallel maps, and the warps draw stateless randoms from a seeded stream.
  """
  ds = records(file_patterns)
  if training:
    ds = ds.shuffle(2048, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()

  def parse(serialized):
    ex = tf.io.parse_single_example(serialized, _FEATURES)
    return (image_ops.decode_resize(ex[contract.IMAGE], image_size),
            tf.one_hot(ex[contract.LABEL], NUM_GRADES))

  ds = ds.map(parse, num_parallel_calls=AUTOTUNE).batch(batch_size, drop_remainder=False)
  if training:
    warp_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip(ds, warp_seeds).map(
        lambda batch, s: (augment.random_affine(batch[0], s), batch[1]),
        num_parallel_calls=AUTOTUNE)
  ds = ds.map(lambda x, y: (image_ops.normalise(x, normalisation), y),
              num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE)


def frames(file_patterns, image_size: int, normalisation: str, batch_size: int
           ) -> tf.data.Dataset:
  """Batches of (normalised images, grade ids, video ids), never shuffled or augmented:
  the passes after training that calibrate, fit the out-of-distribution guard and set the
  referral thresholds (``trainer.task``) see each crop as serving does."""
  features = {**_FEATURES, contract.VIDEO_ID: tf.io.FixedLenFeature([], tf.string)}

  def parse(serialized):
    ex = tf.io.parse_single_example(serialized, features)
    return (image_ops.decode_resize(ex[contract.IMAGE], image_size), ex[contract.LABEL],
            ex[contract.VIDEO_ID])

  ds = records(file_patterns).map(parse, num_parallel_calls=AUTOTUNE).batch(batch_size)
  return ds.map(lambda x, y, v: (image_ops.normalise(x, normalisation), y, v),
                num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def warmup_crops(file_patterns, n: int, scan: int = 1000) -> List[bytes]:
  """Up to ``n`` encoded crops for TF Serving's warmup file, as ingest stored them: from
  different videos where the first ``scan`` examples hold that many, else the first
  others. Real crops, so the warmup runs the decode and the face model on faces."""
  features = {contract.IMAGE: tf.io.FixedLenFeature([], tf.string),
              contract.VIDEO_ID: tf.io.FixedLenFeature([], tf.string)}
  first, others, videos = [], [], set()
  for serialized in records(file_patterns).take(scan):
    ex = tf.io.parse_single_example(serialized, features)
    video, image = ex[contract.VIDEO_ID].numpy(), ex[contract.IMAGE].numpy()
    if video in videos:
      others.append(image)
    else:
      videos.add(video)
      first.append(image)
    if len(first) >= n:
      break
  return (first + others)[:n]
