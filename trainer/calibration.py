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

When the eval split cannot pin ``T`` down, ``T`` stays 1 (the network's own softmax) and
the record says why (``fitted`` false, ``reason``): with every eval frame graded right
the NLL falls towards 0 as ``T`` does and has no minimum, and the lower bound it would
stop at makes every probability about 1, the most dangerous answer a grader can give.
A minimum under the lower bound is refused for the same reason. A minimum at the upper
bound is kept (``at_bound``; ``task.py`` warns): it softens the probabilities towards
uniform, the safe direction.

Pure numpy and scipy: no TensorFlow, so the tests check it by hand.
"""
import math
from typing import Optional

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


def why_not_fitted(logits: np.ndarray, labels: np.ndarray) -> Optional[str]:
  """Why these eval frames cannot fit ``T`` before any search (None: they can)."""
  if len(labels) == 0:
    return 'no eval frames'
  if np.array_equal(np.argmax(logits, axis=1), labels):
    return ('every eval frame is graded right, so the eval NLL has no minimum (it falls '
            'towards 0 as T does)')
  return None


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
  """The ``T`` within ``BOUNDS`` that minimises ``nll(logits, labels, T)``; a ValueError
  when ``why_not_fitted`` names a reason."""
  reason = why_not_fitted(logits, labels)
  if reason:
    raise ValueError(f'cannot fit the temperature: {reason}')
  found = optimize.minimize_scalar(
      lambda log_t: nll(logits, labels, math.exp(log_t)), method='bounded',
      bounds=tuple(map(math.log, BOUNDS)), options={'xatol': 1e-9})
  return float(math.exp(found.x))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
  """The fitted ``T`` and the eval NLL before and after it, as ``palsy_model.json``'s
  ``calibration`` records them; ``T = 1`` with ``fitted`` false and the ``reason`` when
  the eval split cannot fit it (see the module's docstring)."""
  reason = why_not_fitted(logits, labels)
  temperature = 1.0 if reason else fit_temperature(logits, labels)
  if temperature <= BOUNDS[0] * 1.001:
    reason, temperature = (f'the eval NLL is least under T = {BOUNDS[0]}, which would make '
                           'every probability about 1'), 1.0
  before = nll(logits, labels) if len(labels) else None
  return {'method': 'temperature scaling on the eval split', 'temperature': temperature,
          'fitted': reason is None, 'reason': reason, 'eval_frames': int(len(labels)),
          'eval_nll_before': before,
          'eval_nll_after': nll(logits, labels, temperature) if len(labels) else None,
          'at_bound': temperature >= BOUNDS[1] / 1.001}
