"""The evidence report's calibration section (``components/evidence_report/reliability.py``)
and its reliability diagram (``plots.reliability_figure``), on frames worked by hand."""
import math

import numpy as np
import pytest

from components.evaluation import clinical_metrics
from components.evidence_report import plots, predictions, reliability, sections
from tests.report_evidence import evidence

T = 2.0
# Four frames of two subjects. The model serves p = softmax(logits / T) with logits =
# T ln p, so "after" is p and "before", softmax(logits) = p^2 / sum(p^2):
#   frame  subject  true  p (after)                       top after      top before
#   f1     a        0     [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]  0.5  grade 0   0.25 / 0.30 = 0.8333
#   f2     a        1     [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]  0.5  grade 0   0.8333, wrong
#   f3     b        2     [0.1, 0.1, 0.5, 0.1, 0.1, 0.1]  0.5  grade 2   0.8333
#   f4     b        3     [0.3, 0.3, 0.1, 0.1, 0.1, 0.1]  0.3  grade 0   0.09 / 0.22 = 0.4091, wrong
# (f4's tie goes to the lower grade, 0, as everywhere.) Right: f1 and f3.
AFTER_P = np.array([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
                    [0.1, 0.1, 0.5, 0.1, 0.1, 0.1], [0.3, 0.3, 0.1, 0.1, 0.1, 0.1]])
FRAMES = predictions.Frames(labels=np.array([0, 1, 2, 3]), subjects=['a', 'a', 'b', 'b'],
                            videos=['va', 'va', 'vb', 'vb'], sources=['meei'] * 4,
                            probabilities=AFTER_P, logits=T * np.log(AFTER_P))
# After:  bin 5 holds f1, f2, f3: 3 frames, 2 right, confidence 1.5; bin 3 holds f4:
#         0 right, confidence 0.3. ECE = (|2 - 1.5| + |0 - 0.3|) / 4 = 0.8 / 4 = 0.2.
# Before: bin 8 holds f1, f2, f3: 2 right, confidence 3 * 0.8333 = 2.5; bin 4 holds f4:
#         confidence 0.4091. ECE = (|2 - 2.5| + 0.4091) / 4 = (0.5 + 9 / 22) / 4 = 0.22727.
AFTER_ECE = 0.2
BEFORE_ECE = (0.5 + 0.09 / 0.22) / 4
TOL = 1e-12


@pytest.fixture(scope='module')
def found():
  return reliability.curves(FRAMES, num_resamples=200)


def test_before_is_the_softmax_of_the_logits_and_after_what_the_model_serves(found):
  before, after = found
  assert (before.name, after.name) == (reliability.BEFORE, reliability.AFTER)
  np.testing.assert_allclose(clinical_metrics.softmax(FRAMES.logits)[0, :2], [0.25 / 0.3, 0.01 / 0.3],
                             rtol=0, atol=TOL)
  assert abs(after.summary['ece']['value'] - AFTER_ECE) < TOL
  assert abs(before.summary['ece']['value'] - BEFORE_ECE) < TOL
  # Calibration here made the model less sure and closer to how often it is right.
  assert after.summary['nll']['value'] > 0 and after.summary['ece']['value'] < BEFORE_ECE


def test_bins_are_clinical_metrics_sums(found):
  for curve, probs in zip(found, (clinical_metrics.softmax(FRAMES.logits), AFTER_P)):
    sums = clinical_metrics.calibration_sums(FRAMES.labels, probs)
    for got, want in zip(curve.sums, sums):
      np.testing.assert_array_equal(got, want)
  bins = clinical_metrics.reliability_bins(found[1].sums)
  assert bins['count'].tolist() == [0, 0, 0, 1, 0, 3, 0, 0, 0, 0]
  assert bins['accuracy'][5] == pytest.approx(2 / 3) and bins['accuracy'][3] == 0
  assert bins['confidence'][5] == pytest.approx(0.5) and bins['confidence'][3] == pytest.approx(0.3)
  assert math.isnan(bins['accuracy'][0]) and bins['high'][-1] == 1.0


def test_the_diagram_draws_each_bins_accuracy_and_count(found):
  fig = plots.reliability_figure({c.name: c.sums for c in found}, 'test frames')
  try:
    before_ax, after_ax = fig.axes
    for ax, curve in ((before_ax, found[0]), (after_ax, found[1])):
      bins = clinical_metrics.reliability_bins(curve.sums)
      filled = np.nonzero(bins['count'])[0]
      bars = [(round(p.get_x() + p.get_width() / 2, 6), p.get_height()) for p in ax.patches]
      assert bars == [(round((b + 0.5) / 10, 6), pytest.approx(bins['accuracy'][b]))
                      for b in filled], curve.name
      assert [t.get_text() for t in ax.texts] == [str(int(bins['count'][b])) for b in filled]
      assert curve.name in ax.get_title()
    assert [p.get_height() for p in after_ax.patches] == [0, pytest.approx(2 / 3)]
    assert [t.get_text() for t in after_ax.texts] == ['1', '3']
  finally:
    plots._pyplot().close(fig)  # pylint: disable=protected-access
  assert plots.reliability_png({'after calibration': found[1].sums}, 'x')[:4] == b'\x89PNG'


def test_the_tables_show_the_bins_and_the_measures_with_intervals(found):
  rows = {row[0]: row for row in reliability.bin_rows(found)}
  assert rows['[0.5, 0.6)'] == ['[0.5, 0.6)', '0', 'n/a', 'n/a', '3', '0.667', '0.500']
  assert rows['[0.8, 0.9)'][1:4] == ['3', '0.667', '0.833']
  assert rows['[0.9, 1.0]'][1] == '0'  # the last bin is closed: it holds 1.0
  measures = {row[0]: row for row in reliability.measure_rows(found)}
  assert measures[reliability.AFTER][1] == '4'
  assert measures[reliability.AFTER][2].startswith('0.200 [')
  assert measures[reliability.BEFORE][2].startswith('0.227 [')


def test_the_page_includes_the_section():
  html = sections.report_page(evidence())
  found = html[html.index('<section id="calibration">'):html.index('<section id="metrics">')]
  assert 'reliability diagram' in found and '<img src="data:image/png;base64,' in found
  # tests/report_evidence's frames carry no logits: only the served probabilities, and the
  # page says so.
  assert 'exports no logits output' in found and f'frames, {reliability.SERVED}' in found
  assert reliability.BEFORE not in found and reliability.AFTER not in found
  assert 'equals the Evaluator' in found and 'class="warning"' not in html
  # The measures table lists the calibration rows at every level.
  metrics = html[html.index('<section id="metrics">'):]
  for label in ('ECE (top-label, 10 bins)', 'Brier score', 'neg. log-likelihood'):
    assert f'<td>{label}</td>' in metrics, label


def test_a_model_with_logits_shows_both_and_its_temperature(found):
  html = reliability.section(found, b'png', {'frame_ece': AFTER_ECE}, T)
  assert 'exports no logits' not in html and 'T = 2 ' in html
  assert f'frames, {reliability.BEFORE}' in html and f'frames, {reliability.AFTER}' in html
  assert 'class="warning"' not in html


def test_a_report_whose_ece_differs_from_the_evaluators_warns(found):
  html = reliability.section(found, b'png', {'frame_ece': AFTER_ECE + 1e-3}, T)
  assert 'class="warning"' in html and 'differs from the Evaluator' in html


def test_the_before_curve_is_checked_against_the_evaluators_uncalibrated_ece(found):
  metrics = {'frame_ece': AFTER_ECE, 'frame_ece_uncalibrated': BEFORE_ECE}
  assert reliability.agreement(found, metrics) is None
  moved = {**metrics, 'frame_ece_uncalibrated': BEFORE_ECE + 1e-3}
  assert 'frame_ece_uncalibrated recomputed' in reliability.agreement(found, moved)


def test_the_temperature_comes_from_the_models_record(tmp_path):
  # pylint: disable=protected-access
  from components.evidence_report import component  # pylint: disable=g-import-not-at-top
  from preprocessing import crop_settings  # pylint: disable=g-import-not-at-top
  record = tmp_path / 'model' / 'Format-Serving' / crop_settings.MODEL_INFO_FILE
  def temperature():
    return component._temperature(component._model_info(str(tmp_path / 'model')))

  assert temperature() is None  # no record at all
  record.parent.mkdir(parents=True)
  record.write_text('{"preset": "demo"}')  # a model from before temperature scaling
  assert temperature() is None
  record.write_text('{"calibration": {"temperature": 1.37, "fitted": true}}')
  assert temperature() == 1.37
