"""Clinical measures of House-Brackmann grading, with bootstrap confidence intervals.

Clinicians judge a grader per subject (or per video), not per frame, and on an
ordinal scale where calling grade III "II" is a far smaller error than calling it
"VI". So this module aggregates frame probabilities to entities, scores ordinal
agreement (within-one accuracy, MAE, quadratic weighted kappa) next to the usual
per-grade recall/precision/F1, measures calibration (whether a top probability of 0.8
is right 80% of the time: expected calibration error, Brier score and negative
log-likelihood), and puts a confidence interval on every number:
clinical test sets hold tens of subjects, and a point value alone overstates what
such a set can show.

Pure numpy so that the TFMA custom metric (frame, video and subject level) and the
run summary share one implementation. Every measure is computed from a confusion
matrix, or the calibration measures from additive sums per confidence bin, so a whole
stack of bootstrap resamples is scored in one vectorised pass.
"""
import warnings
from typing import NamedTuple

import numpy as np

from preprocessing.labels import NUM_GRADES

# Where a grade is given and judged: each frame, each video (its frames pooled), and each
# subject (all of a person's frames pooled).
LEVELS = ('frame', 'video', 'subject')
# Calibration: whether a top probability of 0.8 is right 80% of the time.
CALIBRATION_MEASURES = ('ece', 'brier', 'nll')
# Report order of the measures that get a confidence interval.
_MEASURES = ('exact_accuracy', 'within_one_accuracy', 'mae', 'quadratic_weighted_kappa',
             'balanced_accuracy', 'macro_f1', 'recall', 'precision', 'f1') + CALIBRATION_MEASURES
# Equal-width confidence bins of the ECE: bin i holds i/10 <= confidence < (i+1)/10, and
# the last bin also holds a confidence of exactly 1.0.
ECE_BINS = 10
# The NLL clips the true grade's probability to at least this, so a confident miss costs
# -log(1e-12) = 27.6 instead of infinity, and one frame cannot make the mean infinite.
NLL_EPSILON = 1e-12


def object_ids(entity_ids) -> np.ndarray:
  # Filled element by element so tuple ids stay scalars and bytes keep trailing
  # NULs, which np.asarray's fixed-width 'S' dtype would strip.
  ids = list(entity_ids)
  out = np.empty(len(ids), dtype=object)
  out[:] = ids
  return out


def softmax(logits) -> np.ndarray:
  """Row-wise softmax of [n, grades] scores (or one row of them), the row maximum taken
  out so that large scores do not overflow: a model's own probabilities, before ``T``."""
  shifted = np.asarray(logits, np.float64)
  shifted = shifted - shifted.max(axis=-1, keepdims=True)
  exp = np.exp(shifted)
  return exp / exp.sum(axis=-1, keepdims=True)


def _as_probabilities(probabilities, n: int) -> np.ndarray:
  probs = np.asarray(probabilities, dtype=np.float64)
  if probs.size == 0 and probs.ndim < 2:
    probs = probs.reshape(0, NUM_GRADES)  # a plain [] when there are no entities
  if probs.ndim != 2 or len(probs) != n:
    raise ValueError(f'probabilities must have shape ({n}, K), got {probs.shape}')
  return probs


def aggregate(entity_ids, labels, probabilities):
  """Pools frame (or video) rows into one row per (entity id, true grade).

  The documented aggregation rule is the mean of the probability vectors: an
  entity's predicted grade is the argmax of the mean of its rows' probabilities,
  so how sure each frame is counts, which a majority vote of the frames' hard
  predictions would throw away. A subject whose rows carry two different true grades
  (say a re-assessment after recovery) counts once per grade, because each grade
  is a separate clinical judgement to be scored.

  Args:
    entity_ids: sequence of N hashable, mutually comparable ids (bytes or str),
      e.g. subject or video ids.
    labels: N integer true grades.
    probabilities: (N, K) predicted probabilities.

  Returns:
    (labels_out, probs_out, ids_out): (G,) int64 grades, (G, K) mean probabilities
    and (G,) object array of ids, one row per group, sorted by id then grade so
    that repeated runs give identical output.
  """
  ids = object_ids(entity_ids)
  labels = np.asarray(labels, dtype=np.int64).reshape(-1)
  probs = _as_probabilities(probabilities, len(labels))
  if len(ids) != len(labels):
    raise ValueError(f'{len(ids)} ids but {len(labels)} labels')
  if labels.size and labels.min() < 0:
    raise ValueError('labels must be non-negative grade ids')
  unique_ids, id_codes = np.unique(ids, return_inverse=True)
  # One integer key per (id, grade); sorting keys sorts by id, then by grade.
  base = labels.max(initial=0) + 1
  keys, group = np.unique(id_codes * base + labels, return_inverse=True)
  sums = np.zeros((len(keys), probs.shape[1]))
  np.add.at(sums, group, probs)
  means = sums / np.bincount(group, minlength=len(keys))[:, None]
  return keys % base, means, unique_ids[keys // base]


def _cell_ids(labels, predictions, num_classes: int) -> np.ndarray:
  """Flat confusion-matrix cell (true * K + predicted) of every entity."""
  labels = np.asarray(labels, dtype=np.int64).reshape(-1)
  predictions = np.asarray(predictions, dtype=np.int64).reshape(-1)
  if len(labels) != len(predictions):
    raise ValueError(f'{len(labels)} labels but {len(predictions)} predictions')
  for name, values in (('labels', labels), ('predictions', predictions)):
    if values.size and (values.min() < 0 or values.max() >= num_classes):
      raise ValueError(f'{name} must lie in 0..{num_classes - 1}')
  return labels * num_classes + predictions


def confusion_matrix(labels, predictions, num_classes: int = NUM_GRADES) -> np.ndarray:
  """(K, K) counts; rows are the true grade, columns the predicted grade."""
  cells = _cell_ids(labels, predictions, num_classes)
  return np.bincount(cells, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _ratio(numerator, denominator):
  """numerator / denominator, NaN where the denominator is 0 (a measure with no data)."""
  with np.errstate(divide='ignore', invalid='ignore'):
    return np.where(denominator > 0, numerator / denominator, np.nan)


def _mean_over_present(values, present):
  """Mean of per-grade values over the grades that have true examples (NaN if none)."""
  return _ratio(np.where(present, values, 0.0).sum(-1), present.sum(-1))


def measures_from_confusion(cm) -> dict:
  """Every clinical measure from a confusion matrix or a stack of them.

  Working from counts alone keeps the bootstrap cheap: B resamples are B small
  matrices, scored together with array operations instead of B Python passes.
  A measure with nothing to measure (an empty matrix, a grade with no true
  examples) is NaN rather than 0, so it cannot pass for a real zero.

  Args:
    cm: (K, K) or (B, K, K) counts, rows true grade, columns predicted grade.

  Returns:
    Dict of numpy arrays, shape () for one matrix or (B,) for a stack; the
    per-grade 'recall', 'precision' and 'f1' have a trailing axis of K:
      exact_accuracy: trace / total.
      within_one_accuracy: share with |true - predicted| <= 1 grade.
      mae: mean |true - predicted| in grades.
      quadratic_weighted_kappa: Cohen's kappa with weights (i - j)^2 / (K - 1)^2
        and the expected matrix from the outer product of the marginals; NaN
        when the expected disagreement is 0 (one grade in truth and prediction).
      balanced_accuracy, macro_f1: mean per-grade recall / F1 over the grades
        with at least one true example, so an absent grade neither helps nor hurts.
      recall, f1: NaN for a grade with no true examples; F1 is 0 for a grade with
        true examples none of which is found.
      precision: NaN for a grade never predicted.
      count: total number of entities.
  """
  cm = np.asarray(cm)
  k = cm.shape[-1]
  true_index, pred_index = np.indices((k, k))
  distance = np.abs(true_index - pred_index)
  total = cm.sum(axis=(-2, -1))
  diagonal = np.diagonal(cm, axis1=-2, axis2=-1)
  row_totals, col_totals = cm.sum(-1), cm.sum(-2)

  def weighted_share(weights):
    return _ratio((cm * weights).sum(axis=(-2, -1)), total)

  # The 1 / (K - 1)^2 normaliser of the kappa weights cancels in its ratio.
  squared = distance.astype(np.float64) ** 2
  expected = _ratio(row_totals[..., :, None] * col_totals[..., None, :],
                    total[..., None, None])
  kappa = 1.0 - _ratio((squared * cm).sum(axis=(-2, -1)),
                       (squared * expected).sum(axis=(-2, -1)))
  present = row_totals > 0
  recall = _ratio(diagonal, row_totals)
  f1 = _ratio(2.0 * diagonal, np.where(present, row_totals + col_totals, 0))
  return {
      'exact_accuracy': _ratio(diagonal.sum(-1), total),
      'within_one_accuracy': weighted_share(distance <= 1),
      'mae': weighted_share(distance),
      'quadratic_weighted_kappa': kappa,
      'balanced_accuracy': _mean_over_present(recall, present),
      'macro_f1': _mean_over_present(f1, present),
      'recall': recall,
      'precision': _ratio(diagonal, col_totals),
      'f1': f1,
      'count': total,
  }


class CalibrationSums(NamedTuple):
  """Additive sums from which every calibration measure follows.

  Sums, not means, so that they merge by addition: across Beam workers (the TFMA
  frame level keeps one of these instead of every frame) and within a bootstrap
  resample. The per-bin fields are what a reliability diagram draws, and a trailing
  axis of ``ECE_BINS``; a leading axis, if any, indexes bootstrap resamples.
  """
  count: np.ndarray       # items per confidence bin
  correct: np.ndarray     # items per bin whose top grade is the true grade
  confidence: np.ndarray  # sum of the top probability per bin
  brier: np.ndarray       # sum over items of the Brier term
  nll: np.ndarray         # sum over items of -log p(true grade)

  def merged(self, other: 'CalibrationSums') -> 'CalibrationSums':
    return CalibrationSums(*(a + b for a, b in zip(self, other)))


def confidence_bins(confidences) -> np.ndarray:
  """The ECE bin of each top probability: i where i/10 <= c < (i+1)/10, 1.0 in the last.

  The edges are the correctly rounded i/10, so a confidence written as 0.3 falls in
  bin 3 whatever rounding ``0.3 * 10`` would do; values outside [0, 1] (rounding of
  a softmax) go to the nearest end bin.
  """
  edges = np.arange(ECE_BINS + 1) / ECE_BINS
  bins = np.searchsorted(edges, np.asarray(confidences, np.float64), side='right') - 1
  return np.clip(bins, 0, ECE_BINS - 1)


def _item_terms(labels, probabilities):
  """Per item: its bin, whether its top grade is right, its top probability, and its
  Brier and NLL terms. The top grade is the argmax (ties to the lower grade), as in
  every other measure of this module."""
  labels = np.asarray(labels, dtype=np.int64).reshape(-1)
  probs = _as_probabilities(probabilities, len(labels))
  if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
    raise ValueError(f'labels must lie in 0..{probs.shape[1] - 1}')
  top = probs.max(axis=1)
  correct = (np.argmax(probs, axis=1) == labels).astype(np.float64)
  one_hot = np.eye(probs.shape[1])[labels]
  brier = ((probs - one_hot) ** 2).sum(axis=1)
  p_true = probs[np.arange(len(labels)), labels]
  nll = -np.log(np.clip(p_true, NLL_EPSILON, 1.0))
  return confidence_bins(top), correct, top, brier, nll


def _sums_over(terms, rows: np.ndarray) -> CalibrationSums:
  """Sums over the items ``rows`` (shape (n,)), or over each row of a (B, n) stack of
  resamples, counted in one bincount with each resample offset into its own bins."""
  bins, correct, top, brier, nll = terms
  stack = np.atleast_2d(rows)
  cells = (bins[stack] + np.arange(len(stack))[:, None] * ECE_BINS).ravel()
  size = len(stack) * ECE_BINS

  def per_bin(weights=None):
    values = None if weights is None else weights[stack].ravel()
    return np.bincount(cells, weights=values, minlength=size).reshape(len(stack), ECE_BINS)

  sums = CalibrationSums(per_bin().astype(np.float64), per_bin(correct), per_bin(top),
                         brier[stack].sum(-1), nll[stack].sum(-1))
  return sums if np.ndim(rows) == 2 else CalibrationSums(*(field[0] for field in sums))


def calibration_sums(labels, probabilities) -> CalibrationSums:
  """The calibration sums of n items: frames, or entities pooled by ``aggregate``."""
  terms = _item_terms(labels, probabilities)
  return _sums_over(terms, np.arange(len(terms[0])))


def calibration_from_sums(sums: CalibrationSums) -> dict:
  """ECE, Brier score and NLL from sums (one set, or a stack of resamples).

  Returns numpy arrays, shape () or (B,), NaN when there are no items:
    ece: top-label expected calibration error over ``ECE_BINS`` equal-width bins of
      [0, 1], each bin weighted by its share of the items: sum over bins of
      (n_b / n) |accuracy_b - mean confidence_b|, which is
      sum over bins of |correct_b - confidence sum_b| / n.
    brier: multi-class Brier score, the mean over items of the sum over grades of
      (p_k - [k is the true grade])^2; 0 is perfect, 2 the worst.
    nll: the mean over items of -log p(true grade), with p clipped to at least
      ``NLL_EPSILON``.
  """
  n = sums.count.sum(-1)
  return {'ece': _ratio(np.abs(sums.correct - sums.confidence).sum(-1), n),
          'brier': _ratio(sums.brier, n), 'nll': _ratio(sums.nll, n)}


def calibration(labels, probabilities) -> dict:
  """ECE, Brier score and NLL of n items (see ``calibration_from_sums``)."""
  return calibration_from_sums(calibration_sums(labels, probabilities))


def reliability_bins(sums: CalibrationSums) -> dict:
  """What a reliability diagram draws, per ``ECE_BINS`` bin of ``sums``: 'low' and
  'high' (its edges), 'count', 'accuracy' (the share whose top grade is right) and
  'confidence' (their mean top probability); accuracy and confidence NaN in an empty bin."""
  edges = np.arange(ECE_BINS + 1) / ECE_BINS
  return {'low': edges[:-1], 'high': edges[1:], 'count': sums.count,
          'accuracy': _ratio(sums.correct, sums.count),
          'confidence': _ratio(sums.confidence, sums.count)}


def entity_calibration_sums(entity_ids, labels, probabilities) -> CalibrationSums:
  """The calibration sums of each entity's frames, a leading axis of entities in sorted
  id order: the pieces a bootstrap over subjects adds up, since the sums of a resample
  are the sums of the entities it draws."""
  ids = object_ids(entity_ids)
  bins, correct, top, brier, nll = _item_terms(labels, probabilities)
  if len(ids) != len(bins):
    raise ValueError(f'{len(ids)} entity ids but {len(bins)} labels')
  names, entity = np.unique(ids, return_inverse=True)
  n = len(names)
  cells = entity * ECE_BINS + bins

  def per_bin(weights=None):
    return np.bincount(cells, weights=weights, minlength=n * ECE_BINS).reshape(n, ECE_BINS)

  return CalibrationSums(per_bin().astype(np.float64), per_bin(correct), per_bin(top),
                         np.bincount(entity, weights=brier, minlength=n),
                         np.bincount(entity, weights=nll, minlength=n))


def clustered_calibration(entity_ids, labels, probabilities, num_resamples: int = 2000,
                          seed: int = 0, confidence: float = 0.95) -> dict:
  """Frame-level ECE, Brier score and NLL with percentile bootstrap intervals that
  resample entities (subjects), each with all of its frames.

  The frame values are those of ``calibration``. Their interval cannot resample frames,
  which are correlated within a subject (the reason ``summarise`` resamples entities), so
  each resample draws entities with ``resample_indices`` and adds up their
  ``entity_calibration_sums``.

  Returns:
    {measure: {'value', 'ci_low', 'ci_high'}} for ``CALIBRATION_MEASURES``, plain floats.
  """
  per_entity = entity_calibration_sums(entity_ids, labels, probabilities)
  indices = resample_indices(len(per_entity.brier), num_resamples, seed)
  point = calibration_from_sums(CalibrationSums(*(field.sum(0) for field in per_entity)))
  resampled = CalibrationSums(*(field[indices].sum(1) for field in per_entity))
  return _intervals(point, calibration_from_sums(resampled), CALIBRATION_MEASURES, confidence)


def resample_indices(n: int, num_resamples: int = 2000, seed: int = 0) -> np.ndarray:
  """(num_resamples, n) indices of entities drawn with replacement, the same for a seed.

  Entities (subjects or videos) are resampled, never frames: frames of one subject
  are strongly correlated, so resampling them would make the intervals far too
  narrow. Every measure of ``summarise`` is scored on these same resamples.
  """
  return np.random.default_rng(seed).integers(0, n, size=(num_resamples, n))


def _confusions_of(cells: np.ndarray, indices: np.ndarray, num_classes: int) -> np.ndarray:
  """Counted in one bincount, each resample offset into its own block of K * K cells."""
  offsets = np.arange(len(indices))[:, None] * num_classes ** 2
  counts = np.bincount((cells[indices] + offsets).ravel(),
                       minlength=len(indices) * num_classes ** 2)
  return counts.reshape(len(indices), num_classes, num_classes)


def bootstrap_confusions(labels, predictions, num_resamples: int = 2000, seed: int = 0,
                         num_classes: int = NUM_GRADES) -> np.ndarray:
  """Confusion matrices of ``num_resamples`` bootstrap resamples of the entities
  (``resample_indices``).

  Returns:
    (num_resamples, K, K) int64 counts, the same for the same seed.
  """
  cells = _cell_ids(labels, predictions, num_classes)
  return _confusions_of(cells, resample_indices(len(cells), num_resamples, seed), num_classes)


def _plain(values):
  """Python float or list of floats, for JSON reports (NaN stays float('nan'))."""
  return np.asarray(values, dtype=np.float64).tolist()


def _intervals(point: dict, resampled: dict, names, confidence: float) -> dict:
  """{name: {'value', 'ci_low', 'ci_high'}}: the point value and the two-sided
  percentile interval of the resamples (the leading axis), NaN resamples ignored."""
  if not 0.0 < confidence < 1.0:
    raise ValueError(f'confidence must lie strictly between 0 and 1, got {confidence}')
  tail = 50.0 * (1.0 - confidence)
  summary = {}
  with warnings.catch_warnings():
    # All-NaN columns (a grade absent from every resample) are expected: NaN out.
    warnings.simplefilter('ignore', RuntimeWarning)
    for name in names:
      low, high = np.nanpercentile(resampled[name], [tail, 100.0 - tail], axis=0)
      summary[name] = {'value': _plain(point[name]), 'ci_low': _plain(low),
                       'ci_high': _plain(high)}
  return summary


def summarise(labels, probabilities, num_resamples: int = 2000, seed: int = 0,
              confidence: float = 0.95) -> dict:
  """Point values and percentile bootstrap intervals of every measure.

  Predictions are the argmax of ``probabilities`` (ties go to the lower grade).
  The calibration measures (``calibration_from_sums``) are scored on the very
  resamples that the confusion matrices are, so all intervals describe one bootstrap.
  Percentiles ignore NaN resamples: a per-grade interval is conditional on the
  grade being drawn at all, which is what a rare grade's interval can say.

  Args:
    labels: n true grades, one per entity (see ``aggregate``).
    probabilities: (n, K) probabilities, one row per entity.
    num_resamples: bootstrap resamples of the entities.
    seed: seeds the resampling, so a report is reproducible.
    confidence: two-sided level; 0.95 gives the 2.5th and 97.5th percentiles.

  Returns:
    {measure: {'value', 'ci_low', 'ci_high'}} for every measure (lists of K for
    'recall', 'precision' and 'f1'), plus 'confusion_matrix' (K x K list) and
    'count' (n); plain Python numbers, JSON-serialisable.
  """
  labels = np.asarray(labels, dtype=np.int64).reshape(-1)
  probs = _as_probabilities(probabilities, len(labels))
  predictions = np.argmax(probs, axis=1)
  num_classes = probs.shape[1]
  cm = confusion_matrix(labels, predictions, num_classes)
  terms = _item_terms(labels, probs)
  point = {**measures_from_confusion(cm),
           **calibration_from_sums(_sums_over(terms, np.arange(len(labels))))}
  indices = resample_indices(len(labels), num_resamples, seed)
  resampled = {
      **measures_from_confusion(_confusions_of(
          _cell_ids(labels, predictions, num_classes), indices, num_classes)),
      **calibration_from_sums(_sums_over(terms, indices))}
  summary = _intervals(point, resampled, _MEASURES, confidence)
  summary['confusion_matrix'] = cm.tolist()
  summary['count'] = int(cm.sum())
  return summary
