"""The out-of-distribution guard: how unlike the training crops a crop is, so that a
grader refers what it was never trained on (not a face, a face it has never seen the
like of) instead of grading it with confidence.

**Score** (Lee et al., NeurIPS 2018, "A simple unified framework for detecting
out-of-distribution samples and adversarial attacks"): the Mahalanobis distance of a
crop's features ``x`` to the nearest grade's mean,
``sqrt(min_c (x - mu_c)^T P (x - mu_c))``, with ``mu_c`` the mean of the train crops of
grade ``c`` and ``P`` the inverse of one covariance shared by every grade (tied: the
train crops' spread about their own grade's mean, pooled). A grade absent from the train
split has no mean, so nothing is near it. Units: standard deviations of that spread
along the direction from the mean, so a crop like the training ones scores about
``sqrt(d)`` (``d`` the feature count; for Gaussian features the squared score is
chi-square with ``d`` degrees of freedom), and a score means the same for every grade.

**Features:** the backbone's pooled features, the head's input (``model.pooled_features``),
not the head's hidden layer. The head is trained to keep only what tells the grades apart,
so a coffee cup or a blurred face can land in the middle of a grade's cluster there; the
backbone's features still describe the whole crop (what a face looks like, for a
pretrained backbone), and they are the same layer for every preset and head.

**Shrinkage:** the covariance is fitted as ``(1 - a) S + a (trace(S) / d) I``: ``S`` the
pooled covariance, shrunk towards the sphere of the same mean variance. Without it ``S``
is singular whenever the features outnumber the train frames (dlib_resnet's 640 or 1280
features against a cohort of a few hundred crops) or a feature never varies, and its
inverse then sends every crop off along a direction the train split never spread in.
``a`` is Ledoit and Wolf's (J. Multivariate Anal. 2004) estimate of the weight that
minimises the expected squared error of the shrunk covariance; it grows as frames become
few against features. It treats frames as independent, which frames of one video are
not, so it errs towards too little shrinkage; the threshold is set on the eval split's
scores (``threshold``), which absorbs a scale that is off. A ``S`` of zero (every train
frame of a grade alike) leaves the sphere of unit variance: the plain Euclidean distance.

Pure numpy (float64), so the tests work it out by hand; ``trainer.export`` computes the
same score in the serving graph from the constants of ``Guard``.
"""
import dataclasses

import numpy as np

METHOD = ('Mahalanobis distance of the pooled backbone features to the nearest grade '
          'mean, tied covariance with Ledoit-Wolf shrinkage (Lee et al. 2018)')
PERCENTILE = 99.0  # of the eval crops' scores: the threshold over which a crop is unlike them


@dataclasses.dataclass(frozen=True)
class Guard:
  grades: np.ndarray      # [k] the grade ids that have a mean, ascending
  means: np.ndarray       # [k, d] the train crops' mean features per grade
  precision: np.ndarray   # [d, d] the inverse of the shrunk tied covariance
  shrinkage: float        # a, in [0, 1]
  train_frames: int


def ledoit_wolf_shrinkage(residuals: np.ndarray) -> float:
  """Ledoit and Wolf's shrinkage weight ``a`` for the covariance of ``residuals`` ([n, d],
  already centred), towards ``trace(S) / d * I``: the estimated squared error of ``S``
  over its squared distance from that target, at most 1 (the formula of scikit-learn's
  ``ledoit_wolf_shrinkage``, which the tests check it against)."""
  x = np.asarray(residuals, np.float64)
  n, d = x.shape
  squares = x**2
  variances = squares.sum(axis=0) / n
  mu = variances.sum() / d
  cross = np.sum((x.T @ x)**2) / n**2                       # ||S||_F^2
  beta = (np.sum(squares.T @ squares) / n - cross) / (d * n)  # E||S - Sigma||_F^2 / d
  delta = (cross - 2 * mu * variances.sum() + d * mu**2) / d  # ||S - mu I||_F^2 / d
  beta = min(beta, delta)
  return 0.0 if beta == 0 else float(beta / delta)


def shrunk(covariance: np.ndarray, shrinkage: float) -> np.ndarray:
  """``(1 - a) S + a (trace(S) / d) I``; the identity for ``S = 0``."""
  covariance = np.asarray(covariance, np.float64)
  d = len(covariance)
  mu = np.trace(covariance) / d
  if mu == 0:
    return np.eye(d)
  return (1 - shrinkage) * covariance + shrinkage * mu * np.eye(d)


def fit(features: np.ndarray, labels: np.ndarray) -> Guard:
  """The guard of the train crops' ``features`` ([n, d]) and grade ids ``labels`` ([n])."""
  features = np.asarray(features, np.float64)
  labels = np.asarray(labels, np.int64)
  if not len(features):
    raise ValueError('no train frames to fit the out-of-distribution guard on')
  grades = np.unique(labels)
  means = np.stack([features[labels == g].mean(axis=0) for g in grades])
  residuals = features - means[np.searchsorted(grades, labels)]
  shrinkage = ledoit_wolf_shrinkage(residuals)
  covariance = shrunk(residuals.T @ residuals / len(features), shrinkage)
  precision = np.linalg.inv(covariance)
  return Guard(grades, means, (precision + precision.T) / 2, shrinkage, len(features))


def score(guard: Guard, features: np.ndarray) -> np.ndarray:
  """[n] the Mahalanobis distance of each row of ``features`` to the nearest grade mean."""
  diff = np.asarray(features, np.float64)[:, None, :] - guard.means[None]
  squared = np.einsum('nkd,de,nke->nk', diff, guard.precision, diff)
  return np.sqrt(np.maximum(squared.min(axis=1), 0))


def threshold(scores: np.ndarray, percentile: float = PERCENTILE) -> float:
  """The score that ``percentile`` % of ``scores`` lie at or under (numpy's quantile,
  linear between order statistics)."""
  return float(np.quantile(np.asarray(scores, np.float64), percentile / 100))


def record(guard: Guard, limit: float, split: str, eval_frames: int) -> dict:
  """``palsy_model.json``'s ``ood``: ``limit`` the threshold, ``split`` the split whose
  scores set it (the eval split, or the train split when the eval split is empty)."""
  return {'method': METHOD, 'threshold': limit, 'percentile': PERCENTILE,
          'threshold_split': split, 'train_frames': guard.train_frames,
          'eval_frames': eval_frames, 'feature_dim': int(guard.means.shape[1]),
          'shrinkage': guard.shrinkage, 'grades_with_mean': guard.grades.tolist()}
