"""The trained model's predictions on the evaluated split, frame by frame and per video.

The Evaluator keeps only aggregates, but ROC curves and a per-video table need each
frame's probabilities. So the report runs the exported SavedModel's
``serving_default`` signature (the one TFMA evaluates) over the same split, and pools
frames with the Evaluator's own rule, ``components.evaluation.clinical_metrics.aggregate``. The
subject confusion matrix recomputed from them must equal the Evaluator's, which checks
that the report shows what was judged.
"""
import collections
import os
from typing import Dict, List, NamedTuple

import numpy as np

from components.evaluation import clinical_metrics
from preprocessing import contract

PREDICT_BATCH = 256


class Frames(NamedTuple):
  """One entry per frame of the split, in file order."""
  labels: np.ndarray        # (N,) int64 true grade ids
  subjects: List[str]       # subject pseudonyms
  videos: List[str]         # video ids
  sources: List[str]
  probabilities: np.ndarray  # (N, K) the model's softmax


def read_records(split_uri: str) -> List[bytes]:
  """Serialized tf.Examples of one split of an Examples artifact (gzip TFRecords)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(tf.io.gfile.glob(os.path.join(split_uri, '*')))
  return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]


def predict(serving_model_dir: str, records: List[bytes]) -> np.ndarray:
  """(N, K) probabilities from the SavedModel's ``serving_default`` signature."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  serve = tf.saved_model.load(serving_model_dir).signatures[contract.SERVING_DEFAULT]
  batches = [serve(**{contract.INPUT_EXAMPLES: tf.constant(records[i:i + PREDICT_BATCH])})
             [contract.OUTPUT_PROBABILITIES].numpy()
             for i in range(0, len(records), PREDICT_BATCH)]
  return np.concatenate(batches).astype(np.float64)


def frames(records: List[bytes], probabilities: np.ndarray) -> Frames:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  parsed = [tf.train.Example.FromString(r).features.feature for r in records]

  def text(feature, name):
    return [f[name].bytes_list.value[0].decode() for f in feature]

  return Frames(np.array([f[contract.LABEL].int64_list.value[0] for f in parsed], np.int64),
                text(parsed, contract.SUBJECT_ID), text(parsed, contract.VIDEO_ID),
                text(parsed, contract.SOURCE),
                np.asarray(probabilities, np.float64))


def per_video(data: Frames) -> List[Dict]:
  """A row per video (or still) and true grade, sorted by subject then video: its
  subject, source, frame count, true grade, predicted grade (argmax of the mean of
  its frames' probabilities) and that mean."""
  labels, means, videos = clinical_metrics.aggregate(data.videos, data.labels,
                                                     data.probabilities)
  subject_of = dict(zip(data.videos, data.subjects))
  source_of = dict(zip(data.videos, data.sources))
  count = collections.Counter(zip(data.videos, data.labels.tolist()))
  rows = [{'subject': subject_of[video], 'video': video, 'source': source_of[video],
           'frames': count[(video, int(label))], 'true': int(label),
           'predicted': int(np.argmax(mean)), 'probabilities': mean.tolist()}
          for label, mean, video in zip(labels, means, videos)]
  return sorted(rows, key=lambda r: (r['subject'], r['video'], r['true']))


def subject_confusion(data: Frames) -> np.ndarray:
  """(K, K) counts of subjects, graded by the argmax of their frames' mean."""
  labels, means, _ = clinical_metrics.aggregate(data.subjects, data.labels,
                                                data.probabilities)
  return clinical_metrics.confusion_matrix(labels, np.argmax(means, axis=1))


def counts(data: Frames) -> Dict[str, int]:
  return {'subjects': len(set(data.subjects)), 'videos': len(set(data.videos)),
          'frames': len(data.labels)}
