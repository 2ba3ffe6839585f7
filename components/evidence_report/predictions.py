"""The trained model's predictions on the evaluated split, frame by frame and per video.

The Evaluator keeps only aggregates, but ROC curves and a per-video table need each
frame's probabilities. So the report runs the exported SavedModel's
``serving_default`` signature (the one TFMA evaluates) over the same split, on Beam
(``inference.py``), which writes a compact row per frame with ``frame_row``;
``read_frames`` reads them back, and the frames are pooled with the Evaluator's own
rule, ``components.evaluation.clinical_metrics.aggregate``. The subject confusion matrix
recomputed from them must equal the Evaluator's, which checks that the report shows
what was judged.
"""
import collections
import json
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from components.evaluation import clinical_metrics
from preprocessing.labels import NUM_GRADES


class Frames(NamedTuple):
  """One entry per frame of the split, in ``read_frames``' order."""
  labels: np.ndarray        # (N,) int64 true grade ids
  subjects: List[str]       # subject pseudonyms
  videos: List[str]         # video ids
  sources: List[str]
  probabilities: np.ndarray  # (N, K) what the model serves: softmax(logits / T)
  # (N, K) the scores before the calibrated softmax; None for a model without them
  logits: Optional[np.ndarray] = None
  # (N,) each frame's out-of-distribution score; None for a model without the guard
  ood_scores: Optional[np.ndarray] = None


def frame_row(label: int, subject: str, video: str, source: str, probabilities,
              logits=None, ood_score=None) -> str:
  """One frame as a line of JSON. The numbers go in as float64, whose JSON form reads
  back to the same bits, so a row loses nothing of the model's float32 output."""
  row = {'label': int(label), 'subject': subject, 'video': video, 'source': source,
         'probabilities': np.asarray(probabilities, np.float64).tolist()}
  if logits is not None:
    row['logits'] = np.asarray(logits, np.float64).tolist()
  if ood_score is not None and not np.isnan(ood_score):
    row['ood_score'] = float(ood_score)
  return json.dumps(row)


def read_frames(pattern: str) -> Frames:
  """The frames of every ``frame_row`` line in the files matching ``pattern``.

  Beam writes the rows in no fixed order, and the order of the frames is the order in
  which a video's probabilities are summed; so they are sorted (by subject, video,
  grade, then probabilities), and the same predictions give the same bits every run.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rows = []
  for path in tf.io.gfile.glob(pattern):
    with tf.io.gfile.GFile(path) as f:
      rows.extend(json.loads(line) for line in f if line.strip())
  rows.sort(key=lambda r: (r['subject'], r['video'], r['label'], r['probabilities']))
  # One model wrote every row: all carry logits, or none does (a model without them).
  with_logits = bool(rows) and 'logits' in rows[0]
  guarded = bool(rows) and 'ood_score' in rows[0]
  return Frames(np.array([r['label'] for r in rows], np.int64),
                [r['subject'] for r in rows], [r['video'] for r in rows],
                [r['source'] for r in rows],
                np.array([r['probabilities'] for r in rows],
                         np.float64).reshape(len(rows), NUM_GRADES),
                np.array([r['logits'] for r in rows], np.float64).reshape(len(rows), NUM_GRADES)
                if with_logits else None,
                np.array([r['ood_score'] for r in rows], np.float64) if guarded else None)


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
