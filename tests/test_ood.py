"""The out-of-distribution guard (trainer/ood.py): the Mahalanobis score of a 2-D example
worked by hand, its Ledoit-Wolf shrinkage by hand and against scikit-learn, a grade absent
from the train split, a covariance that is singular without the shrinkage; then, on the
tiny demo model trained by the Trainer itself, the served ``ood_score`` against the numpy
core, faces under the threshold, non-faces and faces of people it never saw over it (and
not referred with the guard switched off), and what it does with blurred and darkened
faces."""
import contextlib
import io
import json
import math

import cv2
import numpy as np
import pytest
import tensorflow as tf
from sklearn import covariance as sk_covariance

from preprocessing import contract, image_ops, referral
from trainer import ood

# Two grades, each four frames about its mean: (+-1, 0) and (0, +-2).
_OFFSETS = np.array([[1, 0], [-1, 0], [0, 2], [0, -2]], np.float64)
_MEANS = np.array([[0, 0], [10, 10]], np.float64)
# By hand (Ledoit and Wolf's formula on these residuals, n = 8, d = 2): S = diag(1/2, 2),
# trace(S) / d = 5/4; ||S||_F^2 = (16 + 256) / 64 = 17/4; the sum of X2^T X2 over n is
# 68 / 8 = 17/2, so beta = (17/2 - 17/4) / 16 = 17/64; delta = (17/4 - 25/4 + 25/8) / 2
# = 9/16; a = beta / delta = 17/36.
_SHRINKAGE = 17 / 36
# (1 - a) S + a 5/4 I = diag(123/144, 237/144).
_VARIANCES = np.array([123 / 144, 237 / 144])


def _two_grades(labels=(0, 3)):
  features = np.concatenate([m + _OFFSETS for m in _MEANS])
  return features, np.repeat(labels, 4)


def test_the_score_of_a_two_dimensional_example_worked_by_hand():
  features, labels = _two_grades()
  guard = ood.fit(features, labels)
  assert guard.shrinkage == pytest.approx(_SHRINKAGE, abs=1e-12)
  np.testing.assert_allclose(guard.precision, np.diag(1 / _VARIANCES), atol=1e-12)
  np.testing.assert_allclose(guard.means, _MEANS, atol=1e-12)
  queries = np.array([[3, 4], [9, 10], [10, 10], [5, 5]], np.float64)
  expected = [math.sqrt(9 / _VARIANCES[0] + 16 / _VARIANCES[1]),  # nearest: grade 0's mean
              math.sqrt(1 / _VARIANCES[0]),                        # nearest: grade 3's
              0.0,
              # Half way: equally far from both.
              math.sqrt(25 / _VARIANCES[0] + 25 / _VARIANCES[1])]
  np.testing.assert_allclose(ood.score(guard, queries), expected, atol=1e-12)


def test_the_shrinkage_is_ledoit_wolfs_and_keeps_the_covariance_invertible():
  rng = np.random.default_rng(3)
  for n, d in ((200, 5), (30, 80)):  # frames outnumber features, and the other way round
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 3, d)
    x -= x.mean(axis=0)
    assert ood.ledoit_wolf_shrinkage(x) == pytest.approx(
        sk_covariance.ledoit_wolf_shrinkage(x, assume_centered=True), abs=1e-12)
  # 30 frames of 80 features: S is singular, its shrunk form is not.
  sample = x.T @ x / len(x)
  assert np.linalg.matrix_rank(sample) < 80
  shrinkage = ood.ledoit_wolf_shrinkage(x)
  assert 0 < shrinkage <= 1
  smallest = np.linalg.eigvalsh(ood.shrunk(sample, shrinkage)).min()
  assert smallest >= shrinkage * np.trace(sample) / 80 * (1 - 1e-9)
  guard = ood.fit(x, np.zeros(30, np.int64))
  assert np.all(np.isfinite(ood.score(guard, rng.normal(size=(4, 80)))))
  # The shrinkage term by hand: (1 - a) S + a trace(S) / d I.
  s = np.array([[2.0, 1.0], [1.0, 4.0]])
  np.testing.assert_allclose(ood.shrunk(s, 0.25), [[0.75 * 2 + 0.75, 0.75],
                                                   [0.75, 0.75 * 4 + 0.75]], atol=1e-12)
  # Every train frame of its grade alike: the sphere of unit variance, the Euclidean distance.
  same = ood.fit(np.array([[1.0, 2.0], [1.0, 2.0]]), np.array([2, 2]))
  np.testing.assert_allclose(same.precision, np.eye(2))
  assert ood.score(same, np.array([[4.0, 6.0]]))[0] == pytest.approx(5.0)


def test_a_grade_absent_from_the_train_split_has_no_mean():
  features, labels = _two_grades(labels=(1, 4))
  guard = ood.fit(features, labels)
  assert guard.grades.tolist() == [1, 4] and guard.means.shape == (2, 2)
  record = ood.record(guard, 2.5, 'eval', 10)
  assert record['grades_with_mean'] == [1, 4]
  assert (record['feature_dim'], record['train_frames'], record['eval_frames']) == (2, 8, 10)
  # Nothing is near grade 0, 2, 3 or 5: a point far from both means scores far.
  assert ood.score(guard, np.array([[-20.0, -20.0]]))[0] == pytest.approx(
      math.sqrt(400 / _VARIANCES[0] + 400 / _VARIANCES[1]))
  with pytest.raises(ValueError, match='no train frames'):
    ood.fit(np.zeros((0, 2)), np.zeros(0, np.int64))


def test_the_threshold_is_the_99th_percentile():
  assert ood.threshold(np.arange(101.0)) == 99.0
  assert ood.threshold(np.arange(11.0)) == pytest.approx(9.9)  # linear between 9 and 10


# The Trainer on tiny synthetic data: 48 px crops of demo subjects (the astronaut with a
# droop, tint, mirror and motion; pipeline/demo/sample_data.py), 3 subjects per grade to
# train on, 1 per grade to evaluate on, 12 frames each. At 32 px the demo CNN stayed at
# chance on the eval subjects (T went to its upper bound); at 48 px it learns a little
# (eval NLL 1.32, T 1.30) in 60 epochs, about 90 s on 2 cores.
SIZE = 48
FRAMES = 12


def _crops(subject):
  from pipeline.demo import sample_data  # pylint: disable=g-import-not-at-top
  return [cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
          for f in sample_data.render_frames(subject, FRAMES, size=(96, 96), face_px=63.0)]


def _jpeg(rgb):
  return tf.io.encode_jpeg(np.ascontiguousarray(rgb, np.uint8), quality=95).numpy()


def _write_split(path, subjects):
  with tf.io.TFRecordWriter(path, options='GZIP') as w:
    for s in subjects:
      for crop in _crops(s):
        w.write(tf.train.Example(features=tf.train.Features(feature={
            contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[_jpeg(crop)])),
            contract.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[s.grade])),
            contract.VIDEO_ID: tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[s.subject_id.encode()]))})).SerializeToString())


def _jpegs_of(path):
  return [tf.train.Example.FromString(r.numpy()).features.feature[contract.IMAGE]
          .bytes_list.value[0] for r in tf.data.TFRecordDataset(path, 'GZIP')]


def _non_faces(no_face_images):
  """coffee and chelsea, centre squares resized to the crop size."""
  out = {}
  for name, image in no_face_images.items():
    h, w = image.shape[:2]
    side = min(h, w)
    square = image[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]
    out[name] = _jpeg(cv2.resize(square, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
  return out


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """The demo preset trained by ``task.run_fn``, with the model and guard it exported."""
  from tfx.components.trainer.fn_args_utils import FnArgs  # pylint: disable=g-import-not-at-top
  from pipeline.demo import sample_data  # pylint: disable=g-import-not-at-top
  from trainer import export, task  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('ood')
  subjects = sample_data.demo_subjects(per_grade=4)
  train_path, eval_path = str(root / 'train.gz'), str(root / 'eval.gz')
  _write_split(train_path, [s for s in subjects if not s.subject_id.endswith('003')])
  _write_split(eval_path, [s for s in subjects if s.subject_id.endswith('003')])
  exported = {}

  def spy(model, export_dir, *args, **kwargs):
    exported.update(model=model, guard=kwargs['guard'], temperature=kwargs['temperature'])
    return real_export(model, export_dir, *args, **kwargs)

  real_export = export.export
  log = io.StringIO()
  with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(log):
    patch.setattr(export, 'export', spy)
    task.run_fn(FnArgs(train_files=[train_path], eval_files=[eval_path], train_steps=None,
                       serving_model_dir=str(root / 'serving'),
                       model_run_dir=str(root / 'run'),
                       custom_config={'preset': 'demo', 'image_size': SIZE, 'seed': 3,
                                      'overrides': {'epochs': 60}}))
  print(log.getvalue())
  with open(root / 'serving' / 'assets.extra' / 'palsy_model.json') as f:
    info = json.load(f)
  return {**exported, 'loaded': tf.saved_model.load(str(root / 'serving')), 'info': info,
          'log': log.getvalue(), 'train': _jpegs_of(train_path), 'eval': _jpegs_of(eval_path)}


def _served(trained, jpegs, signature=contract.SERVING_IMAGES):
  out = trained['loaded'].signatures[signature](images=tf.constant(jpegs))
  return {k: v.numpy() for k, v in out.items()}


def _features(trained, jpegs):
  """The pooled features of the exported Keras model, outside the serving graph."""
  from trainer import model as model_lib  # pylint: disable=g-import-not-at-top
  images = image_ops.preprocess_bytes(tf.constant(jpegs), SIZE,
                                      trained['info']['normalisation'])
  return model_lib.scores_function(trained['model'])(images)[1].numpy()


@pytest.mark.slow
def test_the_served_score_is_the_numpy_cores_and_the_records_match(trained):
  guard, info = trained['guard'], trained['info']
  # The guard is the core's fit of the train crops' features, computed here anew.
  train_features = _features(trained, trained['train'])
  labels = np.repeat(np.arange(6), 3 * FRAMES)
  again = ood.fit(train_features, labels)
  np.testing.assert_allclose(guard.means, again.means, atol=1e-5)
  assert guard.shrinkage == pytest.approx(again.shrinkage, abs=1e-6)
  jpegs = trained['eval'][:20] + trained['train'][:20]
  expected = ood.score(guard, _features(trained, jpegs))
  examples = [tf.train.Example(features=tf.train.Features(feature={
      contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[j]))})
  ).SerializeToString() for j in jpegs]
  by_examples = trained['loaded'].signatures[contract.SERVING_DEFAULT](
      examples=tf.constant(examples))
  served = {
      contract.SERVING_DEFAULT: by_examples[contract.OUTPUT_OOD_SCORE].numpy(),
      contract.SERVING_IMAGES: _served(trained, jpegs)[contract.OUTPUT_OOD_SCORE],
      contract.SERVING_EXPLAIN: _served(trained, jpegs, contract.SERVING_EXPLAIN)[
          contract.OUTPUT_OOD_SCORE]}
  for name, scores in served.items():
    assert scores.dtype == np.float32 and scores.shape == (40,), name
    np.testing.assert_allclose(scores, expected, atol=1e-4, rtol=0, err_msg=name)
  # palsy_model.json: the guard's record, and the rule with its thresholds.
  eval_scores = ood.score(guard, _features(trained, trained['eval']))
  record = info['ood']
  assert record['threshold'] == pytest.approx(np.quantile(eval_scores, 0.99), abs=1e-4)
  assert (record['percentile'], record['threshold_split']) == (99.0, 'eval')
  assert (record['train_frames'], record['eval_frames'], record['feature_dim']) == (
      18 * FRAMES, 6 * FRAMES, train_features.shape[1])
  assert record['shrinkage'] == guard.shrinkage
  rules = referral.Rules.from_model(info)
  assert rules.ood_threshold == record['threshold']
  assert (rules.max_ood_share, rules.min_faces) == (referral.DEFAULT_MAX_OOD_SHARE,
                                                    referral.DEFAULT_MIN_FACES)
  # min_confidence from the eval videos: each subject's frames pooled by their mean.
  probabilities = _served(trained, trained['eval'])[contract.OUTPUT_PROBABILITIES]
  confidences = [probabilities[i:i + FRAMES].mean(axis=0).max()
                 for i in range(0, len(probabilities), FRAMES)]
  assert rules.min_confidence == pytest.approx(
      np.quantile(confidences, referral.DEFAULT_CONFIDENCE_QUANTILE), abs=1e-5)
  assert info['referral']['eval_videos'] == 6
  # serving_default carries the same rule on every row, for the Evaluator.
  rows = by_examples[contract.OUTPUT_REFERRAL_RULES].numpy()
  assert rows.shape == (40, len(contract.REFERRAL_RULE_FIELDS)) and rows.dtype == np.float32
  for row in rows:
    again = referral.Rules.from_row(row)
    assert again.ood_threshold == pytest.approx(rules.ood_threshold, rel=1e-6)
    assert again.min_confidence == pytest.approx(rules.min_confidence, rel=1e-6)
    assert (again.max_ood_share, again.min_faces) == pytest.approx(
        (rules.max_ood_share, rules.min_faces))
  assert '[train] out-of-distribution guard: Mahalanobis distance of' in trained['log']


@pytest.mark.slow
def test_faces_fall_under_the_threshold_and_non_faces_over_it(trained, no_face_images):
  threshold = trained['info']['ood']['threshold']
  train = _served(trained, trained['train'])[contract.OUTPUT_OOD_SCORE]
  held_out = _served(trained, trained['eval'])[contract.OUTPUT_OOD_SCORE]
  assert np.mean(train > threshold) <= 0.01
  assert np.sum(held_out > threshold) <= math.ceil(0.01 * len(held_out))
  non_faces = _non_faces(no_face_images)
  scores = dict(zip(non_faces, _served(trained, list(non_faces.values()))[
      contract.OUTPUT_OOD_SCORE]))
  print(f'ood_score: threshold {threshold:.2f}; train median {np.median(train):.2f}, eval '
        f'median {np.median(held_out):.2f}; ' + ', '.join(f'{k} {v:.2f}'
                                                          for k, v in scores.items()))
  assert all(v > threshold for v in scores.values()), scores


def _resized(faces):
  return {name: _jpeg(cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
          for name, face in faces.items()}


@pytest.mark.slow
def test_faces_of_people_it_never_saw_go_over_it(trained, unseen_faces):
  """The demo model learns one person's face (the astronaut, warped per grade), so any
  other person is outside its data: Grace Hopper and five LFW faces are referred."""
  threshold = trained['info']['ood']['threshold']
  others = _resized(unseen_faces)
  served = _served(trained, list(others.values()))
  scores = dict(zip(others, served[contract.OUTPUT_OOD_SCORE]))
  print(f'ood_score of unseen people, threshold {threshold:.2f}: '
        + ', '.join(f'{k} {v:.2f}' for k, v in scores.items()))
  assert all(v > threshold for v in scores.values()), scores
  rules = referral.Rules.from_model(trained['info'])
  for probabilities, score in zip(served[contract.OUTPUT_PROBABILITIES], scores.values()):
    assert referral.OUT_OF_DISTRIBUTION in _refer(probabilities, score, rules).refer_reasons


def _refer(probabilities, score, rules):
  """The rule's decision on one still (one frame, one face)."""
  return referral.decide(probabilities, [score], faces_found=1, frames_sampled=1, rules=rules)


@pytest.mark.slow
def test_without_the_guard_the_non_faces_are_not_referred_as_unlike(trained, no_face_images,
                                                                    unseen_faces):
  """The tests above depend on the guard: the same crops (non-faces and unseen people),
  through the same rule with the guard switched off (a model's rules without
  ``ood_threshold``), are not referred as out of distribution, and are referred at all
  only for low confidence."""
  guarded = referral.Rules.from_model(trained['info'])
  unguarded = referral.Rules(**{**guarded.as_dict(), 'ood_threshold': None})
  served = _served(trained, list(_non_faces(no_face_images).values())
                   + list(_resized(unseen_faces).values()))
  for probabilities, score in zip(served[contract.OUTPUT_PROBABILITIES],
                                  served[contract.OUTPUT_OOD_SCORE]):
    with_guard = _refer(probabilities, score, guarded)
    assert with_guard.refer and referral.OUT_OF_DISTRIBUTION in with_guard.refer_reasons
    without = _refer(probabilities, score, unguarded)
    assert referral.OUT_OF_DISTRIBUTION not in without.refer_reasons
    assert without.refer == (referral.LOW_CONFIDENCE in without.refer_reasons)


@pytest.mark.slow
def test_what_the_guard_does_with_blurred_and_darkened_faces(trained):
  """Measured, not a claim: the share of the eval faces over the threshold when blurred
  or darkened (docs/model.md, "The out-of-distribution guard")."""
  threshold = trained['info']['ood']['threshold']
  faces = [tf.io.decode_jpeg(j).numpy() for j in trained['eval']]
  shifts = {'as they are': lambda f: f,
            'Gaussian blur sigma 1 px': lambda f: cv2.GaussianBlur(f, (0, 0), 1.0),
            'Gaussian blur sigma 2 px': lambda f: cv2.GaussianBlur(f, (0, 0), 2.0),
            'darkened x0.3': lambda f: (f * 0.3).round()}
  lines = []
  for name, shift in shifts.items():
    scores = _served(trained, [_jpeg(shift(f)) for f in faces])[contract.OUTPUT_OOD_SCORE]
    lines.append(f'{name}: {np.mean(scores > threshold):.0%} over, median '
                 f'{np.median(scores):.2f}')
    assert np.all(np.isfinite(scores))
  print(f'ood_score of {len(faces)} eval faces, threshold {threshold:.2f}: '
        + '; '.join(lines))
