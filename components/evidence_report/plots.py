"""The report's figures as PNG bytes: confusion matrices, per-grade ROC curves, the
reliability diagram and the risk-coverage curve.

Bytes, not files, because the page embeds them and the executor also writes them
beside it on whatever filesystem the artifact lives (GCS on Kubeflow).
"""
import io
from typing import Dict, Optional

import numpy as np

from components.evaluation import clinical_metrics
from components.evidence_report.roc import Roc
from preprocessing.labels import GRADES


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _png(fig) -> bytes:
  buffer = io.BytesIO()
  fig.tight_layout()
  fig.savefig(buffer, format='png')
  _pyplot().close(fig)
  return buffer.getvalue()


# For other pages that draw as this report does (pipeline/monitor/page.py): pyplot on the
# Agg backend, and a figure as PNG bytes (closed after).
pyplot, figure_png = _pyplot, _png


def confusion_png(matrices: Dict[str, np.ndarray], test_split: str) -> bytes:
  """The frame and subject confusion matrices side by side, counts in the cells;
  ``test_split`` says in each title what the test split holds
  (``summary.describe_test_split``)."""
  plt = _pyplot()
  levels = [level for level in ('frame', 'subject') if level in matrices]
  fig, axes = plt.subplots(1, len(levels), figsize=(6 * len(levels), 5), squeeze=False)
  for ax, level in zip(axes[0], levels):
    matrix = matrices[level]
    im = ax.imshow(matrix, cmap='Blues')
    ax.set_xticks(range(len(GRADES)), GRADES, rotation=45, ha='right')
    ax.set_yticks(range(len(GRADES)), GRADES)
    ax.set_xlabel('predicted grade')
    ax.set_ylabel('true grade')
    ax.set_title(f'{level}s of the test split\n({test_split})')
    for i in range(len(GRADES)):
      for j in range(len(GRADES)):
        ax.text(j, i, int(matrix[i, j]), ha='center', va='center',
                color='white' if matrix[i, j] > matrix.max() / 2 else 'black')
    fig.colorbar(im, ax=ax)
  return _png(fig)


def roc_png(curves: Dict[str, Roc], title: str) -> bytes:
  """One curve per grade (one-vs-rest), its AUC in the legend, and the chance line.

  Points are joined by straight lines: a tie between positives and negatives is a
  diagonal segment, the trapezoid that the AUC counts.
  """
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 5))
  for grade, curve in curves.items():
    ax.plot(curve.fpr, curve.tpr, label=f'{grade} (AUC {curve.auc:.3f})')
  ax.plot([0, 1], [0, 1], ':', color='grey', label='chance')
  ax.set_xlim(-0.01, 1.01)
  ax.set_ylim(-0.01, 1.01)
  ax.set_xlabel('false positive rate')
  ax.set_ylabel('true positive rate')
  ax.set_title(title)
  ax.legend(loc='lower right', fontsize='small')
  return _png(fig)


def reliability_png(panels: Dict[str, clinical_metrics.CalibrationSums], title: str) -> bytes:
  return _png(reliability_figure(panels, title))


def reliability_figure(panels: Dict[str, clinical_metrics.CalibrationSums], title: str):
  """One panel per entry (before and after calibration), side by side: each bin's
  accuracy as a bar over its confidence range, its mean confidence as a dot, the
  diagonal where the two would agree, and each bin's count above its bar.

  The bins are ``clinical_metrics.reliability_bins``, the ones the ECE is computed on.
  """
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5), squeeze=False)
  for ax, (name, sums) in zip(axes[0], panels.items()):
    bins = clinical_metrics.reliability_bins(sums)
    centres, width = (bins['low'] + bins['high']) / 2, bins['high'] - bins['low']
    filled = bins['count'] > 0
    ax.bar(centres[filled], bins['accuracy'][filled], width[filled], color='#4c72b0',
           edgecolor='white', label='accuracy')
    ax.plot(centres[filled], bins['confidence'][filled], 'o', color='#dd8452',
            label='mean confidence')
    for x, y, n in zip(centres[filled], bins['accuracy'][filled], bins['count'][filled]):
      ax.text(x, min(y, 1.0) + 0.02, f'{int(n)}', ha='center', va='bottom', fontsize='small')
    ax.plot([0, 1], [0, 1], ':', color='grey', label='calibrated')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel('confidence (top probability)')
    ax.set_ylabel('accuracy (frames, count above each bar)')
    ax.set_title(f'{name}\n({title})')
    # Below the axes: inside, it would hide a bar or its count wherever it went.
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize='small')
  return fig


def risk_coverage_png(coverage: np.ndarray, exact_risk: np.ndarray,
                      within_one_risk: np.ndarray, accepted: Optional[float]) -> bytes:
  """Error among the k most confident subjects against the share k / n, both errors,
  and the rule's own coverage as a vertical line."""
  plt = _pyplot()
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
  return _png(fig)
