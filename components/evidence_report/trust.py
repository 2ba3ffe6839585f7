"""The report's referral section: what the model's referral rule does on the test split.

From the report's own predictions (``inference.py``), each test subject is referred or
accepted by the rule and thresholds the model carries (``preprocessing.referral``,
``palsy_model.json``'s ``referral``), and the section shows the coverage and the accuracy
among the accepted with intervals (``referral_metrics.summarise``), the thresholds, and
the risk-coverage curve, which shows what any confidence threshold would give.
Pure: numbers and PNG bytes in, HTML out.
"""
from typing import Dict, Optional

import numpy as np

from components.evidence_report import page
from preprocessing import referral

ANCHOR = 'referral'
HEADER = ('measure (subjects)', 'value [95% CI]')
LABELS = {'coverage': 'coverage (share not referred)',
          'accepted_exact_accuracy': 'exact accuracy among the accepted',
          'accepted_within_one_accuracy': 'within-one accuracy among the accepted'}


def cell(summary: dict, name: str) -> str:
  """'0.833 [0.50, 1.00]', the form of every other interval in the report."""
  found = summary[name]
  if np.isnan(found['value']):
    return 'n/a (none accepted)'
  if np.isnan(found['ci_low']):
    return f'{found["value"]:.3f}'
  return f'{found["value"]:.3f} [{found["ci_low"]:.2f}, {found["ci_high"]:.2f}]'


def rows(summary: dict):
  out = [[LABELS[name], cell(summary, name)] for name in LABELS]
  out.append(['subjects accepted / referred', f'{summary["accepted"]} / {summary["referred"]}'])
  return out


def rules_line(rules: referral.Rules) -> str:
  guard = ('no out-of-distribution guard (a model exported before it)'
           if rules.ood_threshold is None else
           f'out of distribution: more than {rules.max_ood_share:.0%} of the frames score over '
           f'{rules.ood_threshold:.4g}')
  return (f'The rule the model carries refers a subject when: {guard}; low confidence: the '
          f'top pooled probability under {rules.min_confidence:.3f}; too few faces: under '
          f'{rules.min_faces} frames with a face.')


def cross_check(summary: dict, metrics: Dict[str, float]) -> Optional[str]:
  """None when the report's coverage equals the Evaluator's ``subject_coverage`` (or the
  Evaluator did not measure it), else a warning naming both."""
  theirs = metrics.get('subject_coverage')
  ours = summary['coverage']['value']
  if theirs is None or abs(theirs - ours) <= 1e-6:
    return None
  return (f"this report's subject coverage {ours:.4f} differs from the Evaluator's "
          f'{theirs:.4f}: the section may not show the rule that was judged')


def section(summary: dict, rules: referral.Rules, curve_png: bytes,
            metrics: Dict[str, float]) -> str:
  problem = cross_check(summary, metrics)
  return page.section(
      ANCHOR, 'Referral: which grades to trust',
      page.paragraph(rules_line(rules), 'note'),
      page.table(HEADER, rows(summary)),
      page.warning(problem) if problem else page.paragraph(
          "Cross-check: the coverage recomputed here equals the Evaluator's "
          'subject_coverage.' if 'subject_coverage' in metrics else
          'The Evaluator did not measure the referral rule.', 'note'),
      page.image(curve_png, 'risk-coverage curve'))
