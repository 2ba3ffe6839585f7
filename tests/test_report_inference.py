"""The evidence report's predictions on Beam give the numbers the in-process path gave.

``reference_frames`` is the report's former path, kept here and nowhere else: every
example of the split read into one list, then ``serving_default`` called in this process.
The Beam path (``inference.frame_predictions``) must give the same frames, per-video rows,
subject confusion matrix, counts and ROC curves on the same SavedModel and examples.
"""
import json
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from components.evidence_report import inference, predictions, roc
from preprocessing import contract
from preprocessing.labels import GRADES, NUM_GRADES
from tests import fixed_model, tiny_model

# (subject, source, [(video, grade, frames)]): stills, videos of many frames, a subject
# graded twice (two videos, two grades), more frames than one batch of the signature.
SPLIT = [
    ('sa', 'meei', [('va1', 0, 40), ('va2', 0, 1)]),
    ('sb', 'yfp', [('vb1', 3, 75)]),
    ('sc', 'meei', [('vc1', 1, 30), ('vc2', 4, 50)]),
    ('sd', 'stills', [('vd1', 5, 1), ('vd2', 5, 1), ('vd3', 2, 1)]),
    ('se', 'yfp', [('ve1', 2, 120)]),
]
FILES = 2  # the split in two gzip shards, as Beam's writers leave it


def reference_frames(split_uri: str, serving_model_dir: str) -> predictions.Frames:
  """The report's predictions as they were made before Beam, in one process."""
  files = sorted(tf.io.gfile.glob(os.path.join(split_uri, '*')))
  records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]
  serve = tf.saved_model.load(serving_model_dir).signatures[contract.SERVING_DEFAULT]
  batch = inference.PREDICT_BATCH
  probabilities = np.concatenate([
      serve(**{contract.INPUT_EXAMPLES: tf.constant(records[i:i + batch])})
      [contract.OUTPUT_PROBABILITIES].numpy()
      for i in range(0, len(records), batch)]).astype(np.float64)
  parsed = [tf.train.Example.FromString(r).features.feature for r in records]

  def text(name):
    return [f[name].bytes_list.value[0].decode() for f in parsed]

  return predictions.Frames(
      np.array([f[contract.LABEL].int64_list.value[0] for f in parsed], np.int64),
      text(contract.SUBJECT_ID), text(contract.VIDEO_ID), text(contract.SOURCE),
      probabilities)


def _example(rng, subject, video, source, grade) -> bytes:
  # Noise around a level of the video's own: the random model's probabilities vary
  # from frame to frame and from video to video.
  level = 40 + 30 * (sum(map(ord, video)) % 6)
  image = np.clip(rng.normal(level, 40, (40, 40, 3)), 0, 255).astype(np.uint8)

  def text(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))

  return tf.train.Example(features=tf.train.Features(feature={
      contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[tf.io.encode_jpeg(image).numpy()])),
      contract.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[grade])),
      contract.SUBJECT_ID: text(subject), contract.VIDEO_ID: text(video),
      contract.SOURCE: text(source)})).SerializeToString()


@pytest.fixture(scope='module')
def split(tmp_path_factory):
  """(split_uri, serving model dir): the examples of SPLIT, shuffled, in FILES shards."""
  root = tmp_path_factory.mktemp('report')
  rng = np.random.default_rng(0)
  records = [_example(rng, subject, video, source, grade)
             for subject, source, videos in SPLIT
             for video, grade, frames in videos for _ in range(frames)]
  random.Random(0).shuffle(records)
  split_uri = root / 'Split-test'
  split_uri.mkdir()
  options = tf.io.TFRecordOptions(compression_type='GZIP')
  for shard in range(FILES):
    with tf.io.TFRecordWriter(str(split_uri / f'data_tfrecord-{shard:05d}-of-{FILES:05d}.gz'),
                              options) as writer:
      for record in records[shard::FILES]:
        writer.write(record)
  return str(split_uri), tiny_model.save(str(root / 'model'))


def _in_read_order(frames: predictions.Frames) -> predictions.Frames:
  """``frames`` in the order ``read_frames`` gives."""
  order = sorted(range(len(frames.labels)), key=lambda i: (
      frames.subjects[i], frames.videos[i], int(frames.labels[i]),
      frames.probabilities[i].tolist()))
  return predictions.Frames(frames.labels[order], [frames.subjects[i] for i in order],
                            [frames.videos[i] for i in order],
                            [frames.sources[i] for i in order], frames.probabilities[order])


def _without_means(rows):
  return [{k: v for k, v in row.items() if k != 'probabilities'} for row in rows]


@pytest.mark.slow  # exports a model and runs a Beam pipeline
def test_beam_predictions_equal_the_in_process_ones(split, tmp_path):
  split_uri, model_dir = split
  work_dir = str(tmp_path / 'report' / '_frames')
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  beamed = inference.frame_predictions(beam.Pipeline(), split_uri, model_dir, work_dir)
  before = reference_frames(split_uri, model_dir)
  assert not os.path.exists(work_dir)  # the rows are gone once read back
  total = sum(frames for _, _, videos in SPLIT for _, _, frames in videos)
  assert len(beamed.labels) == len(before.labels) == total > inference.PREDICT_BATCH

  # Frame by frame: the same labels, ids and probabilities.
  aligned = _in_read_order(before)
  assert beamed.labels.tolist() == aligned.labels.tolist()
  assert (beamed.subjects, beamed.videos, beamed.sources) == (
      aligned.subjects, aligned.videos, aligned.sources)
  frame_difference = np.abs(beamed.probabilities - aligned.probabilities).max()
  assert frame_difference <= 1e-6
  assert np.ptp(beamed.probabilities[:, 0]) > 1e-3  # the frames do differ

  # Per video, per subject, counts and ROC curves, against the former path's own.
  rows, rows_before = predictions.per_video(beamed), predictions.per_video(before)
  assert _without_means(rows) == _without_means(rows_before)
  mean_difference = max(np.abs(np.subtract(r['probabilities'], b['probabilities'])).max()
                        for r, b in zip(rows, rows_before))
  assert mean_difference <= 1e-6
  assert len(rows) == sum(len(videos) for _, _, videos in SPLIT)
  assert (predictions.subject_confusion(beamed).tolist()
          == predictions.subject_confusion(before).tolist())
  assert predictions.counts(beamed) == predictions.counts(before)
  for g in range(NUM_GRADES):
    curve = roc.roc_curve(beamed.labels == g, beamed.probabilities[:, g])
    curve_before = roc.roc_curve(before.labels == g, before.probabilities[:, g])
    assert (curve is None) == (curve_before is None), GRADES[g]
    if curve:
      assert abs(curve.auc - curve_before.auc) <= 1e-6, GRADES[g]
  print(json.dumps({'frames': total, 'max_frame_difference': float(frame_difference),
                    'max_video_mean_difference': float(mean_difference)}))


def test_rows_read_back_exactly_and_in_one_order_whatever_the_files(tmp_path):
  rng = np.random.default_rng(1)
  probabilities = rng.dirichlet(np.ones(NUM_GRADES), size=12).astype(np.float32)
  rows = [predictions.frame_row(i % 3, f's{i % 2}', f'v{i % 4}', 'meei', p)
          for i, p in enumerate(probabilities)]
  readings = []
  for attempt in range(2):
    shuffled = random.Random(attempt).sample(rows, len(rows))
    folder = tmp_path / str(attempt)
    folder.mkdir()
    for shard in range(3):
      (folder / f'frames-{shard}').write_text(''.join(r + '\n' for r in shuffled[shard::3]))
    readings.append(predictions.read_frames(str(folder / 'frames*')))
  first, second = readings
  assert first.labels.tolist() == second.labels.tolist()
  assert first.videos == second.videos
  assert np.array_equal(first.probabilities, second.probabilities)
  # Every float32 probability comes back bit for bit.
  assert (sorted(map(tuple, first.probabilities.astype(np.float32).tolist()))
          == sorted(map(tuple, probabilities.tolist())))
  assert first.probabilities.dtype == np.float64 and first.labels.dtype == np.int64


def test_rows_keep_the_logits_where_the_model_has_them(tmp_path):
  logits = np.array([[2.0, -1.5, 0.25, 0.0, 3.0, -7.0]], np.float32)
  (tmp_path / 'with').write_text(predictions.frame_row(1, 's', 'v', 'meei', [1 / 6] * 6,
                                                       logits[0]) + '\n')
  (tmp_path / 'without').write_text(predictions.frame_row(1, 's', 'v', 'meei', [1 / 6] * 6)
                                    + '\n')
  assert np.array_equal(predictions.read_frames(str(tmp_path / 'with')).logits, logits)
  assert predictions.read_frames(str(tmp_path / 'without')).logits is None
  assert predictions.read_frames(str(tmp_path / 'none*')).logits is None


@pytest.mark.slow  # exports two models and runs two Beam pipelines
@pytest.mark.parametrize('temperature', [None, 2.0])
def test_beam_predictions_carry_the_models_logits_or_none(tmp_path, temperature):
  # The fixed model's frame: 0.5 on its 'pred' grade, 0.1 elsewhere; with a temperature
  # T its logits are T ln 0.5 and T ln 0.1.
  split_uri = tmp_path / 'Split-test'
  split_uri.mkdir()
  preds = [0, 3, 3, 5]
  with tf.io.TFRecordWriter(str(split_uri / 'data_tfrecord-00000-of-00001.gz'),
                            tf.io.TFRecordOptions(compression_type='GZIP')) as writer:
    for i, pred in enumerate(preds):
      writer.write(fixed_model.example(pred, pred, f's{i}', f'v{i}'))
  model_dir = os.path.join(fixed_model.save(str(tmp_path / 'model'), temperature),
                           'Format-Serving')
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  frames = inference.frame_predictions(beam.Pipeline(), str(split_uri), model_dir,
                                       str(tmp_path / '_frames'))
  expected = np.full((len(preds), NUM_GRADES), 0.1)
  expected[np.arange(len(preds)), preds] = 0.5
  np.testing.assert_allclose(frames.probabilities, expected, rtol=0, atol=1e-7)
  if temperature is None:
    assert frames.logits is None
  else:
    np.testing.assert_allclose(frames.logits, temperature * np.log(expected), rtol=0,
                               atol=1e-6)
