"""What the referral rule (``preprocessing.referral``) costs and buys, per subject.

A rule that refers is only useful when the grades it accepts are better than the ones it
refers, and it is only usable when it does not refer nearly everyone. So the measures
are the **coverage** (the share of subjects not referred) and the exact and within-one
accuracy **among the accepted**, each with the percentile bootstrap interval that every
subject measure gets (subjects resampled, never frames, as in ``clinical_metrics``); and
the **risk-coverage curve**: the error among the most confident k subjects for every k,
which shows what any confidence threshold would give, not only the model's.

A subject is one entity: its frames pooled by the Evaluator's rule (the mean of their
probabilities), its out-of-distribution share over all its frames, and its frame count as
its faces (every test example is a face). Pure numpy, as ``clinical_metrics``.
"""
import warnings
from typing import Optional, Sequence

import numpy as np

from components.evaluation import clinical_metrics
from preprocessing import referral

MEASURES = ('coverage', 'accepted_exact_accuracy', 'accepted_within_one_accuracy')


def referred(pooled_probabilities, frames, over, rules: referral.Rules) -> np.ndarray:
  """[G] bool: whether the rule refers each subject, from its pooled probabilities, its
  frame count (each a face) and how many of them score over the guard's threshold."""
  guarded = rules.ood_threshold is not None
  return np.array([bool(referral.reasons(referral.confidence(row), o / n if guarded else None,
                                         int(n), int(n), rules))
                   for row, n, o in zip(pooled_probabilities, frames, over)], bool)


def subject_referrals(subject_ids, labels, probabilities, ood_scores: Optional[Sequence[float]],
                      rules: referral.Rules):
  """Per subject (per subject and grade, as ``clinical_metrics.aggregate`` groups): its
  grade, pooled probabilities, and whether the rule refers it.

  Returns (labels [G], pooled probabilities [G, K], referred [G] bool) in ``aggregate``'s
  order."""
  ids = clinical_metrics.object_ids(subject_ids)
  labels = np.asarray(labels, np.int64).reshape(-1)
  entity_labels, pooled, _ = clinical_metrics.aggregate(ids, labels, probabilities)
  # Each frame's group, numbered as aggregate numbers them (by id, then grade).
  _, codes = np.unique(ids, return_inverse=True)
  _, group = np.unique(codes * (labels.max(initial=0) + 1) + labels, return_inverse=True)
  frames = np.bincount(group, minlength=len(entity_labels))
  over = np.zeros(len(entity_labels))
  if ood_scores is not None and rules.ood_threshold is not None:
    flags = np.asarray(ood_scores, np.float64).reshape(-1) > rules.ood_threshold
    over = np.bincount(group, weights=flags.astype(np.float64), minlength=len(entity_labels))
  return entity_labels, pooled, referred(pooled, frames, over, rules)


def _rates(correct: np.ndarray, near: np.ndarray, accepted: np.ndarray) -> dict:
  """The measures over the last axis; NaN accuracy where nothing is accepted."""
  kept = accepted.sum(-1).astype(np.float64)
  with np.errstate(invalid='ignore', divide='ignore'):
    return {'coverage': kept / accepted.shape[-1],
            'accepted_exact_accuracy': np.where(kept > 0, (correct & accepted).sum(-1) / kept,
                                                np.nan),
            'accepted_within_one_accuracy': np.where(
                kept > 0, (near & accepted).sum(-1) / kept, np.nan)}


def summarise(labels, pooled_probabilities, referred, num_resamples: int = 2000,
              seed: int = 0, confidence: float = 0.95) -> dict:
  """{measure: {'value', 'ci_low', 'ci_high'}} of ``MEASURES``, and 'accepted' and
  'referred' counts, plain Python numbers. Resamples in which no subject is accepted
  have no accuracy and are left out of its interval (NaN-ignoring percentiles)."""
  labels = np.asarray(labels, np.int64).reshape(-1)
  predicted = np.argmax(np.asarray(pooled_probabilities, np.float64), axis=1)
  accepted = ~np.asarray(referred, bool).reshape(-1)
  if not len(labels) == len(predicted) == len(accepted):
    raise ValueError(f'{len(labels)} labels, {len(predicted)} rows of probabilities and '
                     f'{len(accepted)} referral flags: give one of each per subject')
  correct, near = predicted == labels, np.abs(predicted - labels) <= 1
  point = _rates(correct, near, accepted)
  indices = np.random.default_rng(seed).integers(0, len(labels), (num_resamples, len(labels)))
  resampled = _rates(correct[indices], near[indices], accepted[indices])
  tail = 50.0 * (1.0 - confidence)
  summary = {}
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)  # every resample NaN: NaN bounds
    for name in MEASURES:
      low, high = np.nanpercentile(resampled[name], [tail, 100.0 - tail])
      summary[name] = {'value': float(point[name]), 'ci_low': float(low),
                       'ci_high': float(high)}
  summary['accepted'] = int(accepted.sum())
  summary['referred'] = int((~accepted).sum())
  return summary


def risk_coverage(labels, pooled_probabilities):
  """The risk-coverage curve: subjects in order of falling confidence (ties by their
  order), and for the k most confident, k = 1..n, the coverage k / n and the exact and
  within-one error among them. Returns (coverage, exact_risk, within_one_risk), [n] each."""
  labels = np.asarray(labels, np.int64).reshape(-1)
  probs = np.asarray(pooled_probabilities, np.float64)
  predicted = np.argmax(probs, axis=1)
  order = np.argsort(-probs.max(axis=1), kind='stable')
  k = np.arange(1, len(labels) + 1)
  wrong = np.cumsum(predicted[order] != labels[order])
  far = np.cumsum(np.abs(predicted[order] - labels[order]) > 1)
  return k / len(labels), wrong / k, far / k
