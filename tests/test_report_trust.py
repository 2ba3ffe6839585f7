"""The evidence report's referral section (``components/evidence_report/trust.py``)."""
import numpy as np

from components.evaluation import referral_metrics
from components.evidence_report import plots, trust
from preprocessing import referral
from tests.test_referral_metrics import LABELS, POOLED


def test_the_section_shows_the_summary_the_rule_and_the_curve():
  summary = referral_metrics.summarise(LABELS, POOLED, [False, False, False, True, True],
                                       num_resamples=200)
  rules = referral.Rules(ood_threshold=12.5, min_confidence=0.65)
  curve = plots.risk_coverage_png(*referral_metrics.risk_coverage(LABELS, POOLED), 0.6)
  assert curve[:8] == b'\x89PNG\r\n\x1a\n'
  html = trust.section(summary, rules, curve, {'subject_coverage': 0.6})
  assert 'equals the Evaluator' in html
  cells = dict(trust.rows(summary))
  assert cells[trust.LABELS['coverage']].startswith('0.600 [')
  assert cells[trust.LABELS['accepted_exact_accuracy']].startswith('0.667 [')
  assert cells['subjects accepted / referred'] == '3 / 2'
  assert 'more than 50% of the frames score over 12.5' in html
  assert 'under 0.650' in html and 'risk-coverage curve' in html


def test_nobody_accepted_reads_as_such_and_a_model_without_the_guard_says_so():
  summary = referral_metrics.summarise(LABELS, POOLED, [True] * 5, num_resamples=50)
  assert trust.cell(summary, 'accepted_exact_accuracy') == 'n/a (none accepted)'
  assert 'no out-of-distribution guard' in trust.rules_line(referral.Rules())
  assert np.isnan(summary['accepted_within_one_accuracy']['value'])


def test_a_coverage_unlike_the_evaluators_is_flagged():
  summary = referral_metrics.summarise(LABELS, POOLED, [False, False, False, True, True],
                                       num_resamples=50)
  assert trust.cross_check(summary, {'subject_coverage': 0.6}) is None
  assert 'differs from the Evaluator' in trust.cross_check(summary, {'subject_coverage': 0.8})
  assert 'did not measure' in trust.section(summary, referral.Rules(), b'png', {})
