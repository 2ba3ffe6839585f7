"""The report's figures as PNG bytes: confusion matrices and per-grade ROC curves.

Bytes, not files, because the page embeds them and the executor also writes them
beside it on whatever filesystem the artifact lives (GCS on Kubeflow).
"""
import io
from typing import Dict

import numpy as np

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
