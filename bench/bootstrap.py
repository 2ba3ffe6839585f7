"""Bootstrap benchmark: ``summarise`` (all resamples scored as one stack of confusion
matrices) vs a naive loop that scores each resample from its label vectors, side by
side in one run because the machines are shared and absolute numbers drift. Both
score the same resample indices, so their intervals must agree exactly.

  .venv/bin/python bench/bootstrap.py [--subjects 1000] [--resamples 2000]
                                      [--naive-resamples 2000] [--repeats 5]

Last line: {"bootstrap_seconds": .., "target_seconds": 2.0, "vs_naive": .., ..}
"""
import argparse
import json
import time
import warnings

import _common  # puts the repository on sys.path
import numpy as np  # pylint: disable=g-import-not-at-top

from components.evaluation import clinical_metrics  # pylint: disable=g-import-not-at-top
from preprocessing.labels import NUM_GRADES  # pylint: disable=g-import-not-at-top

TARGET_SECONDS = 2.0
SCALARS = ('exact_accuracy', 'within_one_accuracy', 'mae', 'quadratic_weighted_kappa',
           'balanced_accuracy', 'macro_f1')
PER_GRADE = ('recall', 'precision', 'f1')


def make_subjects(n, seed=0):
  """Subject-level probabilities of a plausible grader: right about 80% of the time,
  and when wrong usually one grade off."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, NUM_GRADES, n)
  grades = np.arange(NUM_GRADES)
  logits = -1.5 * np.abs(grades[None, :] - labels[:, None]) + rng.normal(0, 1.0, (n, NUM_GRADES))
  probs = np.exp(logits)
  return labels, probs / probs.sum(1, keepdims=True)


def naive_measures(labels, predictions):
  """One resample's measures straight from its label vectors, grade by grade."""
  n = len(labels)
  errors = np.abs(labels - predictions)
  recall, precision, f1 = (np.full(NUM_GRADES, np.nan) for _ in range(3))
  for grade in range(NUM_GRADES):
    true, predicted = labels == grade, predictions == grade
    hits = np.sum(true & predicted)
    if true.any():
      recall[grade] = hits / true.sum()
      f1[grade] = 2 * hits / (true.sum() + predicted.sum())
    if predicted.any():
      precision[grade] = hits / predicted.sum()
  rows = np.array([np.sum(labels == g) for g in range(NUM_GRADES)])
  cols = np.array([np.sum(predictions == g) for g in range(NUM_GRADES)])
  expected = sum((i - j) ** 2 * rows[i] * cols[j]
                 for i in range(NUM_GRADES) for j in range(NUM_GRADES)) / n
  kappa = 1.0 - np.sum(errors ** 2) / expected if expected > 0 else np.nan
  present = ~np.isnan(recall)
  return {'exact_accuracy': np.mean(errors == 0), 'within_one_accuracy': np.mean(errors <= 1),
          'mae': np.mean(errors), 'quadratic_weighted_kappa': kappa,
          'balanced_accuracy': np.mean(recall[present]), 'macro_f1': np.mean(f1[present]),
          'recall': recall, 'precision': precision, 'f1': f1}


def naive_bootstrap(labels, predictions, num_resamples, seed):
  """The reference: a Python loop over resamples, the same index draw as ours."""
  indices = np.random.default_rng(seed).integers(0, len(labels), size=(num_resamples,
                                                                       len(labels)))
  per_resample = [naive_measures(labels[i], predictions[i]) for i in indices]
  return {name: np.array([m[name] for m in per_resample]) for name in SCALARS + PER_GRADE}


def intervals(resampled):
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN grades, as in summarise
    return {name: np.nanpercentile(resampled[name], [2.5, 97.5], axis=0)
            for name in SCALARS + PER_GRADE}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--subjects', type=int, default=1000)
  parser.add_argument('--resamples', type=int, default=2000)
  parser.add_argument('--naive-resamples', type=int, default=2000,
                      help='time the naive loop on N resamples and scale (if it is slow)')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  labels, probs = make_subjects(args.subjects, args.seed)
  predictions = np.argmax(probs, axis=1)

  t_ours = _common.best_of(
      lambda: clinical_metrics.summarise(labels, probs, args.resamples, args.seed),
                   args.repeats)
  start = time.perf_counter()
  naive = naive_bootstrap(labels, predictions, args.naive_resamples, args.seed)
  t_naive = (time.perf_counter() - start) * args.resamples / args.naive_resamples

  ours = clinical_metrics.measures_from_confusion(clinical_metrics.bootstrap_confusions(
      labels, predictions, args.naive_resamples, args.seed))
  same_resamples = all(np.allclose(ours[name], naive[name], rtol=1e-12, atol=0, equal_nan=True)
                       for name in naive)
  ours_ci, naive_ci = intervals(ours), intervals(naive)
  same_ci = all(np.allclose(ours_ci[name], naive_ci[name], rtol=1e-12, atol=0, equal_nan=True)
                for name in naive_ci)

  summary = clinical_metrics.summarise(labels, probs, args.resamples, args.seed)
  accuracy = summary['exact_accuracy']
  print(f'{args.subjects} subjects, {args.resamples} resamples: summarise {t_ours:.3f} s '
        f'(best of {args.repeats}), naive loop {t_naive:.2f} s (timed on '
        f'{args.naive_resamples} resamples, scaled), ratio {t_naive / t_ours:.1f}x')
  print(f'same per-resample measures: {same_resamples}, same 95% intervals on the '
        f'{args.naive_resamples} shared resamples: {same_ci}; exact accuracy '
        f'{accuracy["value"]:.3f} [{accuracy["ci_low"]:.3f}, {accuracy["ci_high"]:.3f}]')
  print(f'target: bootstrap_seconds < {TARGET_SECONDS}')
  print(json.dumps({'bootstrap_seconds': round(t_ours, 4), 'target_seconds': TARGET_SECONDS,
                    'vs_naive': round(t_naive / t_ours, 1),
                    'naive_seconds_scaled': round(t_naive, 2),
                    'same_ci': bool(same_ci and same_resamples)}))


if __name__ == '__main__':
  main()
