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
(scipy's bounded Brent) finds it without a starting guess or derivatives. The bounds keep
a degenerate eval split finite: when every eval frame is graded right, the NLL falls
towards 0 as ``T`` does, and the fit returns the lower bound (``task.py`` warns).

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


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
  """The ``T`` within ``BOUNDS`` that minimises ``nll(logits, labels, T)``."""
  if len(labels) == 0:
    raise ValueError('no eval frames to fit the temperature on')
  if np.array_equal(np.argmax(logits, axis=1), labels):
    # Every frame graded right: the NLL falls towards 0 with T and has no minimum, and
    # below some T it is flat at float precision, where the search would stop anywhere.
    return BOUNDS[0]
  found = optimize.minimize_scalar(
      lambda log_t: nll(logits, labels, math.exp(log_t)), method='bounded',
      bounds=tuple(map(math.log, BOUNDS)), options={'xatol': 1e-9})
  return float(math.exp(found.x))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
  """The fitted ``T`` and the eval NLL before and after it, as ``palsy_model.json``'s
  ``calibration`` records them."""
  temperature = fit_temperature(logits, labels)
  return {'method': 'temperature scaling on the eval split', 'temperature': temperature,
          'eval_frames': int(len(labels)), 'eval_nll_before': nll(logits, labels),
          'eval_nll_after': nll(logits, labels, temperature),
          'at_bound': not BOUNDS[0] * 1.001 < temperature < BOUNDS[1] / 1.001}
