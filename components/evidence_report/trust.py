"""The report's referral section: what the model's referral rule does on the test split.

From the report's own predictions (``inference.py``), each test subject is referred or
accepted by the rule and thresholds the model carries (``preprocessing.referral``,
``palsy_model.json``'s ``referral``), and the section shows the coverage and the accuracy
among the accepted with intervals (``referral_metrics.summarise``), the thresholds, and
the risk-coverage curve, which shows what any confidence threshold would give.
Pure: numbers and PNG bytes in, HTML out.
"""
from typing import Optional

import numpy as np

from components.evidence_report import page, plots
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


def risk_coverage_png(coverage: np.ndarray, exact_risk: np.ndarray,
                      within_one_risk: np.ndarray, accepted: Optional[float]) -> bytes:
  """Error among the k most confident subjects against the share k / n, both errors,
  and the rule's own coverage as a vertical line."""
  plt = plots._pyplot()  # pylint: disable=protected-access
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.step(coverage, exact_risk, where='post', label='exact error')
  ax.step(coverage, within_one_risk, where='post', label='error beyond one grade')
  if accepted is not None:
    ax.axvline(accepted, color='grey', linestyle='--', label="the rule's coverage")
  ax.set_xlim(0, 1.02)
  ax.set_ylim(-0.02, 1.02)
  ax.set_xlabel('coverage (most confident subjects first)')
  ax.set_ylabel('error among them')
  ax.set_title('Risk-coverage (subjects of the test split)')
  ax.legend(loc='upper left')
  return plots._png(fig)  # pylint: disable=protected-access


def section(summary: dict, rules: referral.Rules, curve_png: bytes) -> str:
  return page.section(
      ANCHOR, 'Referral: which grades to trust',
      page.paragraph(rules_line(rules), 'note'),
      page.table(HEADER, rows(summary)),
      page.image(curve_png, 'risk-coverage curve'))
