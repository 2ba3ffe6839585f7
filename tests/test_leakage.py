"""The leakage comparison on hand-made run outcomes: the table, the plot's bars and the
JSON, every number worked out by hand."""
import json
import math

import pytest

from pipeline.demo import leakage

_NAN = float('nan')


def _outcome(frame, subject, ci, counts, also_in_train):
  """An outcome as ``summary.summarize`` returns it: frame and subject (exact, within
  one, balanced) accuracies, subject CIs, test counts, and the ingest summary's leak."""
  metrics = {'frame_count': counts[0], 'subject_count': counts[1]}
  for level, values in (('frame', frame), ('subject', subject)):
    for measure, value in zip(('exact_accuracy', 'within_one_accuracy', 'balanced_accuracy'),
                              values):
      metrics[f'{level}_{measure}'] = value
  for measure, (low, high) in zip(('exact_accuracy', 'within_one_accuracy',
                                   'balanced_accuracy'), ci):
    metrics[f'subject_{measure}_ci_low'] = low
    metrics[f'subject_{measure}_ci_high'] = high
  return {'metrics': metrics, 'blessed': True,
          'ingest': {'test_subjects_also_in_train': also_in_train}}


@pytest.fixture
def comparison():
  frame_split = _outcome(frame=(0.95, 1.0, 0.94), subject=(1.0, 1.0, 1.0),
                         ci=((1.0, 1.0), (1.0, 1.0), (1.0, 1.0)), counts=(40, 18),
                         also_in_train=15)
  subject_split = _outcome(frame=(0.6, 0.9, 0.55), subject=(0.5, 5 / 6, _NAN),
                           ci=((1 / 6, 5 / 6), (0.5, 1.0), (_NAN, _NAN)), counts=(30, 6),
                           also_in_train=0)
  return leakage.compare({'frame_split': frame_split, 'subject_split': subject_split})


def test_differences_are_frame_split_minus_subject_split(comparison):
  differences = {row['metric']: row['difference'] for row in comparison['rows']}
  assert differences == pytest.approx({
      'frame_exact_accuracy': 0.35, 'frame_within_one_accuracy': 0.1,
      'frame_balanced_accuracy': 0.39, 'subject_exact_accuracy': 0.5,
      'subject_within_one_accuracy': 1 / 6, 'subject_balanced_accuracy': None})
  assert comparison['counts'] == {
      'test frames': {'frame_split': 40, 'subject_split': 30},
      'test subjects': {'frame_split': 18, 'subject_split': 6},
      'test subjects also in train': {'frame_split': 15, 'subject_split': 0}}


def test_the_table_prints_both_columns_with_subject_cis(comparison):
  lines = leakage.format_table(comparison).splitlines()
  assert lines[:10] == [
      '                                        frame split        subject split  difference',
      '  test frames                                    40                   30',
      '  test subjects                                  18                    6',
      '  test subjects also in train                    15                    0',
      '  frame exact accuracy                        0.950                0.600      +0.350',
      '  frame within one grade                      1.000                0.900      +0.100',
      '  frame balanced accuracy                     0.940                0.550      +0.390',
      '  subject exact accuracy         1.000 [1.00, 1.00]   0.500 [0.17, 0.83]      +0.500',
      '  subject within one grade       1.000 [1.00, 1.00]   0.833 [0.50, 1.00]      +0.167',
      '  subject balanced accuracy      1.000 [1.00, 1.00]                  n/a         n/a']


def test_the_bars_carry_the_subject_cis_as_error_bars(comparison):
  drawn = leakage.bars(comparison)
  subject = drawn['subject_split']
  assert subject['heights'] == pytest.approx([0.6, 0.9, 0.55, 0.5, 5 / 6, 0.0])
  # Frame rows have no CI; 0.5 in [1/6, 5/6] reaches 1/3 down and up; n/a draws none.
  assert subject['below'][:3] == [None] * 3 == subject['above'][:3]
  assert subject['below'][3:5] == pytest.approx([1 / 3, 1 / 3])
  assert subject['above'][3:5] == pytest.approx([1 / 3, 1 / 6])
  assert subject['below'][5] is None is subject['above'][5]
  assert subject['labels'] == ['0.60', '0.90', '0.55', '0.50', '0.83', 'n/a']
  assert drawn['frame_split']['below'] == [None] * 3 + [0.0] * 3


def test_json_and_png_are_written(comparison, tmp_path):
  roots = {'frame_split': '/runs/f', 'subject_split': '/runs/s'}
  paths = leakage.write(comparison, roots, str(tmp_path / 'leakage.json'),
                        str(tmp_path / 'leakage.png'))
  with open(paths[0]) as f:
    # Strict JSON: a NaN would have to be written as NaN, which this refuses.
    written = json.loads(f.read(), parse_constant=lambda c: pytest.fail(f'{c} in JSON'))
  assert written['runs'] == roots
  balanced = written['rows'][-1]
  assert balanced['subject_split'] == {'value': None, 'ci_low': None, 'ci_high': None}
  assert math.isclose(written['rows'][3]['frame_split']['ci_low'], 1.0)
  with open(paths[1], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
