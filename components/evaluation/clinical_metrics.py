"""Clinical measures of House-Brackmann grading, with bootstrap confidence intervals.

Clinicians judge a grader per subject (or per video), not per frame, and on an
ordinal scale where calling grade III "II" is a far smaller error than calling it
"VI". So this module aggregates frame probabilities to entities, scores ordinal
agreement (within-one accuracy, MAE, quadratic weighted kappa) next to the usual
per-grade recall/precision/F1, and puts a confidence interval on every number:
clinical test sets hold tens of subjects, and a point value alone overstates what
such a set can show.

Pure numpy so that the TFMA custom metric (frame, video and subject level) and the
run summary share one implementation. Every measure is computed from a confusion
matrix, so a whole stack of bootstrap resamples is scored in one vectorised pass.
"""
import warnings

import numpy as np

from preprocessing.labels import NUM_GRADES

# Where a grade is given and judged: each frame, each video (its frames pooled), and each
# subject (all of a person's frames pooled).
LEVELS = ('frame', 'video', 'subject')
# Report order of the measures that get a confidence interval.
_MEASURES = ('exact_accuracy', 'within_one_accuracy', 'mae', 'quadratic_weighted_kappa',
             'balanced_accuracy', 'macro_f1', 'recall', 'precision', 'f1')


def object_ids(entity_ids) -> np.ndarray:
  # Filled element by element so tuple ids stay scalars and bytes keep trailing
  # NULs, which np.asarray's fixed-width 'S' dtype would strip.
  ids = list(entity_ids)
  out = np.empty(len(ids), dtype=object)
  out[:] = ids
  return out


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


def bootstrap_confusions(labels, predictions, num_resamples: int = 2000, seed: int = 0,
                         num_classes: int = NUM_GRADES) -> np.ndarray:
  """Confusion matrices of ``num_resamples`` bootstrap resamples of the entities.

  Entities (subjects or videos) are resampled with replacement, never frames:
  frames of one subject are strongly correlated, so resampling them would make
  the intervals far too narrow. All resamples are counted in one bincount, each
  offset into its own block of K * K cells.

  Returns:
    (num_resamples, K, K) int64 counts, the same for the same seed.
  """
  cells = _cell_ids(labels, predictions, num_classes)
  indices = np.random.default_rng(seed).integers(0, len(cells), size=(num_resamples,
                                                                     len(cells)))
  offsets = np.arange(num_resamples)[:, None] * num_classes ** 2
  counts = np.bincount((cells[indices] + offsets).ravel(),
                       minlength=num_resamples * num_classes ** 2)
  return counts.reshape(num_resamples, num_classes, num_classes)


def _plain(values):
  """Python float or list of floats, for JSON reports (NaN stays float('nan'))."""
  return np.asarray(values, dtype=np.float64).tolist()


def summarise(labels, probabilities, num_resamples: int = 2000, seed: int = 0,
              confidence: float = 0.95) -> dict:
  """Point values and percentile bootstrap intervals of every measure.

  Predictions are the argmax of ``probabilities`` (ties go to the lower grade).
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
  if not 0.0 < confidence < 1.0:
    raise ValueError(f'confidence must lie strictly between 0 and 1, got {confidence}')
  labels = np.asarray(labels, dtype=np.int64).reshape(-1)
  probs = _as_probabilities(probabilities, len(labels))
  predictions = np.argmax(probs, axis=1)
  num_classes = probs.shape[1]
  cm = confusion_matrix(labels, predictions, num_classes)
  point = measures_from_confusion(cm)
  resampled = measures_from_confusion(
      bootstrap_confusions(labels, predictions, num_resamples, seed, num_classes))
  tail = 50.0 * (1.0 - confidence)
  summary = {}
  with warnings.catch_warnings():
    # All-NaN columns (a grade absent from every resample) are expected: NaN out.
    warnings.simplefilter('ignore', RuntimeWarning)
    for name in _MEASURES:
      low, high = np.nanpercentile(resampled[name], [tail, 100.0 - tail], axis=0)
      summary[name] = {'value': _plain(point[name]), 'ci_low': _plain(low),
                       'ci_high': _plain(high)}
  summary['confusion_matrix'] = cm.tolist()
  summary['count'] = int(cm.sum())
  return summary
