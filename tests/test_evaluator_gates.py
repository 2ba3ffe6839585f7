"""The Evaluator's numbers and gates, checked against values computed by hand.

The real TFX Evaluator executor (TFMA on Beam) judges a fixed model whose prediction
for each frame is a feature of the example (tests/fixed_model.py), on 32 crafted frames
of 7 subjects in 8 videos. Every expected value below is worked out in the comments.
Then every gate is set once exactly at its true value (blessed) and once just beyond it
(a floor just above, the ECE ceiling just below: not blessed, and each failure named), so
a gate that reads the wrong number, or a metric that reads 0, fails here.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.evaluation import clinical_metrics, results, tables
from pipeline import eval_config
from pipeline.options import Gates
from preprocessing import referral
from preprocessing.labels import GRADES
from tests import fixed_model

pytestmark = pytest.mark.slow  # runs TFX's Evaluator

# (subject, true grade, video, frame predictions). Grades 4 and 5 are absent.
FRAMES = [
    ('s1', 0, 'v1', [0, 0, 0, 1]),
    ('s2', 0, 'v2', [0, 0, 0, 0]),
    ('s3', 1, 'v3', [1, 1, 2, 2, 2]),
    ('s4', 1, 'v4', [1, 1, 1, 1]),
    ('s5', 2, 'v5', [2, 2, 2, 3]),
    ('s6', 3, 'v6', [3, 3, 3, 3]),
    ('s6', 3, 'v7', [2, 2, 2]),
    ('s7', 3, 'v8', [1, 1, 1, 1]),
]
PRESENT = [0, 1, 2, 3]

# Frames, true grade (rows) -> predicted (columns):
#   grade 0: 7 as 0, 1 as 1                 (8 frames)
#   grade 1: 6 as 1, 3 as 2                 (9 frames)
#   grade 2: 3 as 2, 1 as 3                 (4 frames)
#   grade 3: 4 as 3, 3 as 2, 4 as 1         (11 frames)
# Predicted totals: 0 -> 7, 1 -> 1+6+4 = 11, 2 -> 3+3+3 = 9, 3 -> 1+4 = 5.
FRAME_ACCURACY = (7 + 6 + 3 + 4) / 32
FRAME_RECALL = {0: 7 / 8, 1: 6 / 9, 2: 3 / 4, 3: 4 / 11}
FRAME_PRECISION = {0: 7 / 7, 1: 6 / 11, 2: 3 / 9, 3: 4 / 5}
# Subjects, by the argmax of the mean of their frames' probabilities:
#   s1 0->0, s2 0->0, s3 1->2 (3 of 5 frames say 2), s4 1->1, s5 2->2,
#   s6 3->3 (4 frames say 3, 3 say 2), s7 3->1.
SUBJECT_RECALL = {0: 2 / 2, 1: 1 / 2, 2: 1 / 1, 3: 1 / 2}
SUBJECT_PRECISION = {0: 2 / 2, 1: 1 / 2, 2: 1 / 2, 3: 1 / 1}   # predicted 1: s4, s7; 2: s3, s5
SUBJECT_BALANCED_ACCURACY = (1 + 0.5 + 1 + 0.5) / 4
SUBJECT_EXACT = 5 / 7
SUBJECT_WITHIN_ONE = 6 / 7          # only s7 is off by more than one
SUBJECT_MAE = (1 + 2) / 7           # s3 off by 1, s7 by 2
# Videos: v1 0, v2 0, v3 2, v4 1, v5 2, v6 3, v7 2, v8 1 -> grade 3 videos 1 of 3 right.
VIDEO_EXACT = 5 / 8
VIDEO_RECALL_3 = 1 / 3
# Calibration. Every frame's top probability is 0.5 (bin 5), and 20 of 32 are right:
#   frame ECE = |20/32 - 0.5| = 0.125.
#   Brier: a right frame (0.5 - 1)^2 + 5 * 0.1^2 = 0.30, a wrong one
#   0.5^2 + (0.1 - 1)^2 + 4 * 0.1^2 = 1.10: (20 * 0.30 + 12 * 1.10) / 32 = 19.2 / 32 = 0.6.
#   NLL: -ln 0.5 when right, -ln 0.1 when wrong: (20 ln 2 + 12 ln 10) / 32.
FRAME_ECE = 0.125
FRAME_BRIER = 0.6
FRAME_NLL = (20 * np.log(2) + 12 * np.log(10)) / 32
# A subject's pooled probability of grade g is 0.1 + 0.4 * (its frames saying g) / frames:
#   bin 3: s3 0.1 + 0.4 * 3/5 = 0.34 wrong, s6 0.1 + 0.4 * 4/7 = 2.3/7 right;
#   bin 4: s1 and s5 0.1 + 0.4 * 3/4 = 0.4, both right;
#   bin 5: s2, s4 0.5 right, s7 0.5 wrong.
#   ECE = (|1 - 0.34 - 2.3/7| + |2 - 0.8| + |2 - 1.5|) / 7 = 0.29020
SUBJECT_ECE = (1 - 0.34 - 2.3 / 7 + 1.2 + 0.5) / 7
# Before calibration: the model is saved with T = 2, so its logits are 2 ln p and its own
# softmax is p^2 / sum p^2: top 0.25 / (0.25 + 5 * 0.01) = 5/6 on every frame (bin 8),
# 20 of 32 right: ECE = 5/6 - 20/32 = 0.208333...; Brier: a right frame (1/6)^2 + 5/30^2,
# a wrong one (5/6)^2 + (29/30)^2 + 4/30^2; NLL: -ln 5/6 right, -ln 1/30 wrong.
TEMPERATURE = 2.0
UNCALIBRATED_ECE = 5 / 6 - 20 / 32
UNCALIBRATED_BRIER = (20 * ((1 / 6) ** 2 + 5 / 900)
                      + 12 * ((5 / 6) ** 2 + (29 / 30) ** 2 + 4 / 900)) / 32
UNCALIBRATED_NLL = (20 * np.log(6 / 5) + 12 * np.log(30)) / 32
SUBJECT_CONFUSION = [[2, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0],
                     [0, 1, 0, 1, 0, 0], [0] * 6, [0] * 6]

# The referral rule: the model's guard threshold 5, and s3's frames score 10 (the others
# 0), so s3 alone is referred (share 1 > 0.5; no confidence floor; every subject has at
# least 3 frames). Accepted: s1 s2 s4 s5 s6 s7, of whom s7 is wrong, by two grades.
RULES = referral.Rules(ood_threshold=5.0)
UNLIKE = {'s3': 10.0}
SUBJECT_COVERAGE = 6 / 7
SUBJECT_ACCEPTED_EXACT = 5 / 6
SUBJECT_ACCEPTED_WITHIN_ONE = 5 / 6

ABSENT = (0.0, 0.0)  # floors of grades 4 and 5: absent, so never gated


def _gates(eps=0.0):
  """Every floor at its true value plus ``eps`` (one floor per present grade), and the
  frame ECE ceiling at its true value minus ``eps``: each gate just fails at ``eps`` > 0."""
  return Gates(
      min_accuracy=FRAME_ACCURACY + eps,
      min_class_recall=tuple(FRAME_RECALL[g] + eps for g in PRESENT) + ABSENT,
      min_subject_balanced_accuracy=SUBJECT_BALANCED_ACCURACY + eps,
      min_subject_within_one=SUBJECT_WITHIN_ONE + eps,
      min_subject_class_recall=tuple(SUBJECT_RECALL[g] + eps for g in PRESENT) + ABSENT,
      max_ece=FRAME_ECE - eps, min_coverage=SUBJECT_COVERAGE + eps,
      min_accepted_within_one=SUBJECT_ACCEPTED_WITHIN_ONE + eps)


EPS = 1e-9


def _evaluate(tmp_path, name, gates, frames=FRAMES, grades=PRESENT):
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  examples.split_names = artifact_utils.encode_split_names(['test'])
  split_dir = os.path.join(examples.uri, 'Split-test')
  if not os.path.exists(split_dir):
    os.makedirs(split_dir)
    with tf.io.TFRecordWriter(os.path.join(split_dir, 'data_tfrecord-00000-of-00001.gz'),
                              options='GZIP') as writer:
      for subject, grade, video, preds in frames:
        for pred in preds:
          writer.write(fixed_model.example(grade, pred, subject, video,
                                           ood=UNLIKE.get(subject, 0.0)))
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  if not os.path.exists(model.uri):
    fixed_model.save(model.uri, temperature=TEMPERATURE, rules=RULES)
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = str(tmp_path / name / 'evaluation')
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / name / 'blessing')
  config = eval_config.build(gates, grades)
  evaluator_executor.Executor().Do(
      {'examples': [examples], 'model': [model]},
      {'evaluation': [evaluation], 'blessing': [blessing]},
      {'eval_config': proto_utils.proto_to_json(config), 'example_splits': json.dumps(['test'])})
  return {'metrics': results.overall_metrics(evaluation.uri),
          'failed': results.failed_thresholds(evaluation.uri),
          'blessed': os.path.exists(os.path.join(blessing.uri, 'BLESSED')),
          'uri': evaluation.uri}


@pytest.fixture(scope='module')
def at_true_values(tmp_path_factory):
  return _evaluate(tmp_path_factory.mktemp('gates'), 'true', _gates())


def test_frame_per_grade_metrics_are_those_of_the_predicted_grade(at_true_values):
  m = at_true_values['metrics']
  assert m['sparse_categorical_accuracy'] == pytest.approx(FRAME_ACCURACY)
  for grade, name in enumerate(GRADES[:4]):
    assert m[f'frame_recall[{name}]'] == pytest.approx(FRAME_RECALL[grade]), name
    assert m[f'frame_precision[{name}]'] == pytest.approx(FRAME_PRECISION[grade]), name
    p, r = FRAME_PRECISION[grade], FRAME_RECALL[grade]
    assert m[f'frame_f1[{name}]'] == pytest.approx(2 * p * r / (p + r)), name


def test_subject_and_video_levels(at_true_values):
  m = at_true_values['metrics']
  assert m['subject_balanced_accuracy'] == pytest.approx(SUBJECT_BALANCED_ACCURACY)
  assert m['subject_exact_accuracy'] == pytest.approx(SUBJECT_EXACT)
  assert m['subject_within_one_accuracy'] == pytest.approx(SUBJECT_WITHIN_ONE)
  assert m['subject_mae'] == pytest.approx(SUBJECT_MAE)
  assert m['subject_count'] == 7 and m['video_count'] == 8 and m['frame_count'] == 32
  for grade, name in enumerate(GRADES[:4]):
    assert m[f'subject_recall[{name}]'] == pytest.approx(SUBJECT_RECALL[grade]), name
    assert m[f'subject_precision[{name}]'] == pytest.approx(SUBJECT_PRECISION[grade]), name
  assert m['video_exact_accuracy'] == pytest.approx(VIDEO_EXACT)
  assert m['video_recall[moderate]'] == pytest.approx(VIDEO_RECALL_3)
  # The frame level of our own metric agrees with TFMA's built-in accuracy.
  assert m['frame_exact_accuracy'] == pytest.approx(m['sparse_categorical_accuracy'])
  # Seven subjects cannot pin a balanced accuracy down: the interval says so.
  low, high = m['subject_balanced_accuracy_ci_low'], m['subject_balanced_accuracy_ci_high']
  assert low <= SUBJECT_BALANCED_ACCURACY <= high and high - low > 0.3


def test_the_referral_rule_by_the_models_own_thresholds(at_true_values):
  m = at_true_values['metrics']
  assert m['subject_coverage'] == pytest.approx(SUBJECT_COVERAGE)
  assert m['subject_accepted_exact_accuracy'] == pytest.approx(SUBJECT_ACCEPTED_EXACT)
  assert m['subject_accepted_within_one_accuracy'] == pytest.approx(SUBJECT_ACCEPTED_WITHIN_ONE)
  for name in ('coverage', 'accepted_exact_accuracy', 'accepted_within_one_accuracy'):
    assert m[f'subject_{name}_ci_low'] <= m[f'subject_{name}'] <= m[f'subject_{name}_ci_high']


def _frame_probabilities(frames=FRAMES):
  """What the fixed model serves, in float32 as TFMA reads it."""
  rows = [(subject, grade, video, fixed_model.REST + (fixed_model.TOP - fixed_model.REST)
           * np.eye(len(GRADES))[pred]) for subject, grade, video, preds in frames
          for pred in preds]
  subjects, grades, videos, probs = zip(*rows)
  return subjects, grades, videos, np.array(probs, np.float32).astype(np.float64)


def test_calibration_at_every_level(at_true_values):
  m = at_true_values['metrics']
  assert m['frame_ece'] == pytest.approx(FRAME_ECE, abs=1e-12)
  assert m['frame_brier'] == pytest.approx(FRAME_BRIER, abs=1e-6)
  assert m['frame_nll'] == pytest.approx(FRAME_NLL, abs=1e-6)
  assert m['subject_ece'] == pytest.approx(SUBJECT_ECE, abs=1e-6)
  subjects, grades, videos, probs = _frame_probabilities()
  for level, ids in (('video', videos), ('subject', subjects)):
    labels, pooled, _ = clinical_metrics.aggregate(ids, grades, probs)
    for name, value in clinical_metrics.calibration(labels, pooled).items():
      assert m[f'{level}_{name}'] == pytest.approx(value, abs=1e-9), (level, name)
  for name in clinical_metrics.CALIBRATION_MEASURES:
    low, high = m[f'subject_{name}_ci_low'], m[f'subject_{name}_ci_high']
    assert low <= m[f'subject_{name}'] <= high and high > low, name


def test_calibration_before_the_temperature_by_hand(at_true_values):
  m = at_true_values['metrics']
  assert m['frame_ece_uncalibrated'] == pytest.approx(UNCALIBRATED_ECE, abs=1e-6)
  assert m['frame_brier_uncalibrated'] == pytest.approx(UNCALIBRATED_BRIER, abs=1e-6)
  assert m['frame_nll_uncalibrated'] == pytest.approx(UNCALIBRATED_NLL, abs=1e-6)
  # The served probabilities are softmax(logits / 2): the calibrated ECE is the 0.125 above.
  assert m['frame_ece'] == pytest.approx(FRAME_ECE, abs=1e-12)
  row = dict((r[0], r[1:]) for r in tables.level_rows(m))[tables.UNCALIBRATED_LABEL]
  assert row == ['', '', f'{UNCALIBRATED_ECE:.3f}']


def test_confusion_matrices_agree_with_the_metric_tables(at_true_values):
  matrices = results.confusion_matrices(at_true_values['uri'])
  assert matrices['subject'].tolist() == SUBJECT_CONFUSION
  frame = matrices['frame']
  assert frame.sum() == 32
  for grade in PRESENT:
    assert frame[grade, grade] / frame[grade].sum() == pytest.approx(FRAME_RECALL[grade])
    assert frame[grade, grade] / frame[:, grade].sum() == pytest.approx(FRAME_PRECISION[grade])


def test_absent_grades_have_no_metric_and_no_gate(at_true_values):
  m = at_true_values['metrics']
  for name in GRADES[4:]:
    assert not [k for k in m if k.endswith(f'[{name}]')], name


def test_every_gate_passes_at_its_true_value(at_true_values):
  assert at_true_values['failed'] == []
  assert at_true_values['blessed']


def test_every_gate_fails_just_beyond_its_true_value(tmp_path):
  # Floors 1e-9 above their true values; the ECE ceiling 1e-9 below the true 0.125.
  result = _evaluate(tmp_path, 'above', _gates(EPS))
  assert not result['blessed']
  failed = '\n'.join(result['failed'])
  assert 'sparse_categorical_accuracy (overall)' in failed
  assert 'subject_balanced_accuracy (overall)' in failed
  assert 'subject_within_one_accuracy (overall)' in failed
  for name in GRADES[:4]:
    assert f'frame_recall[{name}] (overall)' in failed
    assert f'subject_recall[{name}] (overall)' in failed
  assert 'frame_ece (overall) = 0.125, required <= 0.125' in failed
  assert 'subject_coverage (overall)' in failed
  assert 'subject_accepted_within_one_accuracy (overall)' in failed
  assert len(result['failed']) == 6 + 2 * len(PRESENT), failed


def _ceilings(config):
  """(metric config, upper bound) of every value ceiling in an EvalConfig."""
  return [(metric.config, t.threshold.value_threshold.upper_bound.value)
          for spec in config.metrics_specs for metric in spec.metrics
          for t in metric.per_slice_thresholds
          if t.threshold.value_threshold.HasField('upper_bound')]


def test_the_ece_ceiling_is_off_by_default_and_only_on_frames():
  assert Gates().max_ece is None
  assert _ceilings(eval_config.build(Gates())) == []
  assert _ceilings(eval_config.build(Gates(max_ece=0.15))) == [
      ('"level": "frame", "measure": "ece"', pytest.approx(0.15))]
  with pytest.raises(ValueError, match=r'--max-ece must lie in \[0, 1\]'):
    Gates(max_ece=1.5)


def test_a_grade_never_predicted_has_recall_0_and_no_precision(tmp_path):
  # Grade near_normal is never predicted: its recall is 0/2 and its precision undefined.
  # (TFMA's own top-1 per-class Recall read 1.0 for such a grade in a real run.)
  frames = [('s1', 0, 'v1', [0, 0]), ('s2', 1, 'v2', [0, 0]), ('s3', 2, 'v3', [2, 2])]
  no_floors = Gates(min_accuracy=0, min_class_recall=(0,), min_subject_balanced_accuracy=0,
                    min_subject_within_one=0, min_subject_class_recall=(0,))
  m = _evaluate(tmp_path, 'never', no_floors, frames, grades=[0, 1, 2])['metrics']
  assert m['frame_recall[near_normal]'] == 0 and m['subject_recall[near_normal]'] == 0
  assert np.isnan(m['frame_precision[near_normal]'])
  assert m['frame_recall[normal]'] == 1 and m['frame_precision[normal]'] == 0.5
  assert tables.format_value(m, 'frame_precision[near_normal]') == 'n/a'
