"""Temperature scaling (Guo et al., ICML 2017): one scalar ``T`` that divides the grades'
scores before the softmax, fitted after training on the eval split, so that a
probability of 0.8 is right about 80% of the time there.

Why the eval split: the test split must stay unseen to measure the result, and the train
split is where the network became overconfident. Why one scalar: it cannot change which
grade is the most probable (``T > 0`` keeps the order of each row's scores), so every
accuracy the Evaluator measures is the same before and after; it only makes each
probability honest about how often it is right.

``T`` minimises the eval frames' mean negative log-likelihood (NLL) of
``softmax(logits / T)``. That NLL is convex in ``1 / T`` (a log-sum-exp of a linear map
minus a linear term), so it has one minimum over ``log T`` too, and a bounded 1-D search
(scipy's bounded Brent) finds it without a starting guess or derivatives.

When every eval frame is graded right, the NLL has no minimum: it falls towards 0 as
``T`` does, and the lower bound it would stop at makes every probability about 1, the
most dangerous answer a grader can give. Eval frames picked by early stopping are often
all right on a small split (the demo's are). ``T`` is then chosen so that the eval
frames' mean top probability equals what ``n`` right out of ``n`` supports by Laplace's
rule of succession, ``(n + 1) / (n + 2)`` (``laplace_target``): a model that has never
been seen to err on 78 frames may claim 79/80, not 1. The mean top probability falls
as ``T`` grows (each row's largest softmax share does), so one root exists and Brent's
method finds it; the record names the objective (``'objective': 'laplace'``).

An NLL minimum under the lower bound is refused (``T`` stays 1, ``fitted`` false, with
the ``reason``) for the same reason, as is an empty eval split. A minimum at the upper
bound is kept (``at_bound``; ``task.py`` warns): it softens the probabilities towards
uniform, the safe direction.

Pure numpy and scipy: no TensorFlow, so the tests check it by hand.
"""
import math

import numpy as np
from scipy import optimize

BOUNDS = (0.05, 20.0)  # T; 1 is inside


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
  """Mean NLL of ``labels`` (grade ids, [n]) under ``softmax(logits / temperature)``
  (``logits`` [n, grades]), in nats; log-sum-exp with the row maximum taken out, so
  large scores do not overflow."""
  scaled = np.asarray(logits, np.float64) / temperature
  scaled -= scaled.max(axis=1, keepdims=True)
  log_norm = np.log(np.exp(scaled).sum(axis=1))
  labels = np.asarray(labels, np.int64)
  return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


def probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
  """``softmax(logits / temperature)``, what the exported signatures serve."""
  scaled = np.asarray(logits, np.float64) / temperature
  scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
  return scaled / scaled.sum(axis=1, keepdims=True)


def laplace_target(n: int) -> float:
  """The accuracy ``n`` right answers out of ``n`` support by Laplace's rule of
  succession, the mean top probability ``T`` is matched to when none is wrong."""
  return (n + 1) / (n + 2)


def all_right(logits: np.ndarray, labels: np.ndarray) -> bool:
  return len(labels) > 0 and np.array_equal(np.argmax(logits, axis=1), labels)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
  """The ``T`` within ``BOUNDS`` that minimises ``nll(logits, labels, T)``; a ValueError
  when the eval frames are none or all graded right (the NLL has no minimum then)."""
  if not len(labels):
    raise ValueError('cannot fit the temperature: no eval frames')
  if all_right(logits, labels):
    raise ValueError('cannot fit the temperature by NLL: every eval frame is graded right, '
                     'so the NLL has no minimum (it falls towards 0 as T does)')
  found = optimize.minimize_scalar(
      lambda log_t: nll(logits, labels, math.exp(log_t)), method='bounded',
      bounds=tuple(map(math.log, BOUNDS)), options={'xatol': 1e-9})
  return float(math.exp(found.x))


def match_confidence(logits: np.ndarray, target: float) -> float:
  """The ``T`` within ``BOUNDS`` at which the mean top probability of
  ``softmax(logits / T)`` is ``target`` (the nearer bound when none reaches it)."""
  def gap(log_t):
    return float(probabilities(logits, math.exp(log_t)).max(axis=1).mean()) - target
  low, high = map(math.log, BOUNDS)
  if gap(low) <= 0:
    return BOUNDS[0]
  if gap(high) >= 0:
    return BOUNDS[1]
  return float(math.exp(optimize.brentq(gap, low, high, xtol=1e-12)))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
  """The fitted ``T`` and the eval NLL before and after it, as ``palsy_model.json``'s
  ``calibration`` records them: by NLL, by Laplace's rule when every eval frame is right,
  or ``T = 1`` with ``fitted`` false and the ``reason`` (see the module's docstring)."""
  n = int(len(labels))
  reason, objective, temperature = None, 'nll', 1.0
  if not n:
    reason = 'no eval frames'
  elif all_right(logits, labels):
    objective = 'laplace'
    temperature = match_confidence(logits, laplace_target(n))
  else:
    temperature = fit_temperature(logits, labels)
    if temperature <= BOUNDS[0] * 1.001:
      reason, temperature = (f'the eval NLL is least under T = {BOUNDS[0]}, which would '
                             'make every probability about 1'), 1.0
  record = {'method': 'temperature scaling on the eval split', 'temperature': temperature,
            'fitted': reason is None, 'reason': reason, 'eval_frames': n,
            'objective': objective if reason is None else None,
            'eval_nll_before': nll(logits, labels) if n else None,
            'eval_nll_after': nll(logits, labels, temperature) if n else None,
            'at_bound': temperature >= BOUNDS[1] / 1.001}
  if objective == 'laplace':
    record['laplace_target'] = laplace_target(n)
  return record
