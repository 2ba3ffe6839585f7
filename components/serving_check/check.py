"""The ServingCheck's judgement, apart from TFX and from any loaded model: the pure
functions that turn what the fresh process saw into reasons to refuse (the settings they
read are ``settings.py``'s).

``probe.py`` loads the model and calls these; ``executor.py`` records their verdict. A
report is a JSON-ready dict: ``reasons`` (empty: blessed), the signatures the SavedModel
has, the warmup requests replayed, the largest difference from the Trainer's own
responses per signature, and the latency per signature and batch size.
"""
import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from components.serving_check.settings import BATCH_SIZES, Settings
from preprocessing import contract

REPORT_FILE = 'serving_check.json'  # in the InfraBlessing artifact


def new_report(model_dir: str) -> dict:
  return {'model': model_dir, 'checked': True, 'reasons': [], 'signatures': [],
          'warmup_requests': 0, 'max_difference': {}, 'latency_ms': {}}


def not_checked(model_dir: str) -> dict:
  """The report for a model the Evaluator did not bless: refused, and nothing run."""
  report = new_report(model_dir)
  report['checked'] = False
  report['reasons'].append('the Evaluator did not bless this model, so it was not checked')
  return report


def missing_signatures(present: Iterable[str]) -> List[str]:
  """A reason for each signature of the serving contract that the SavedModel lacks."""
  present = sorted(present)
  return [f'signature {name!r} is missing: clients call it by that name (the SavedModel '
          f'has {", ".join(present) or "none"})'
          for name in contract.SIGNATURES if name not in present]


def request_problem(signature: str, inputs: Mapping[str, int],
                    signature_inputs: Mapping[str, Mapping[str, int]]) -> Optional[str]:
  """Why TF Serving's Predict (predict_util.cc) would refuse a request; None if it would
  not. ``inputs``: the request's input names -> DataType enum; ``signature_inputs``:
  each signature's the same."""
  if signature not in signature_inputs:
    return f'Serving signature key "{signature}" not found.'
  expected = signature_inputs[signature]
  if set(inputs) != set(expected):
    return (f'{signature} takes inputs {sorted(expected)}, the request has '
            f'{sorted(inputs)}')
  for name, dtype in sorted(inputs.items()):
    if dtype != expected[name]:
      return f'{signature} input {name!r} has DataType {expected[name]}, the request {dtype}'
  return None


def unreplayed_signatures(replayed: Iterable[str]) -> List[str]:
  """A reason for each signature of the contract that no warmup request names: TF
  Serving would leave it cold, and the check could not compare it."""
  replayed = set(replayed)
  return [f'no warmup request names signature {name!r}'
          for name in contract.SIGNATURES if name not in replayed]


def compare(actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
            tolerance: float) -> Tuple[float, List[str]]:
  """(largest absolute difference over the numeric outputs, reasons). The outputs must
  have the same names and shapes; numbers agree within ``tolerance`` (NaN where both are
  NaN), anything else exactly."""
  reasons, largest = [], 0.0
  if set(actual) != set(expected):
    reasons.append(f'outputs {sorted(actual)}, the Trainer\'s {sorted(expected)}')
  for name in sorted(set(actual) & set(expected)):
    a, e = np.asarray(actual[name]), np.asarray(expected[name])
    if a.shape != e.shape:
      reasons.append(f'{name} has shape {list(a.shape)}, the Trainer\'s {list(e.shape)}')
      continue
    if np.issubdtype(a.dtype, np.number) and np.issubdtype(e.dtype, np.number):
      a, e = a.astype(np.float64), e.astype(np.float64)
      both_nan = np.isnan(a) & np.isnan(e)
      diff = np.where(both_nan, 0.0, np.abs(a - e))
      diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only
      worst = float(diff.max()) if diff.size else 0.0
      largest = max(largest, worst)
      if worst > tolerance:
        reasons.append(f'{name} differs from the Trainer\'s by up to {worst:.3g} '
                       f'(tolerance {tolerance:g})')
    elif not np.array_equal(a, e):
      reasons.append(f'{name} differs from the Trainer\'s: {_shown(a)} against {_shown(e)}')
  return largest, reasons


def _shown(values: np.ndarray, first: int = 4) -> str:
  """The first values, bytes as text."""
  shown = [v.decode('utf-8', 'replace') if isinstance(v, bytes) else v
           for v in values.ravel().tolist()[:first]]
  return str(shown) + (' ...' if values.size > first else '')


def latency(seconds: Sequence[float]) -> Dict[str, float]:
  """The median and 99th percentile (numpy's linear interpolation) in milliseconds."""
  ms = np.asarray(seconds, np.float64) * 1000.0
  return {'requests': int(ms.size), 'median': float(np.median(ms)),
          'p99': float(np.percentile(ms, 99))}


def latency_problems(measured: Mapping[str, Mapping[str, Mapping[str, float]]],
                     settings: Settings) -> List[str]:
  """A reason for each signature and batch size whose p99 is over its limit.
  ``measured``: signature -> batch size (as a string, as in JSON) -> ``latency``."""
  limits = dict(zip(BATCH_SIZES, settings.max_p99_ms))
  return [f'{name} at batch {batch}: p99 latency {stats["p99"]:.1f} ms over the limit '
          f'{limits[int(batch)]:g} ms (median {stats["median"]:.1f} ms, '
          f'{stats["requests"]} requests)'
          for name, by_batch in sorted(measured.items())
          for batch, stats in sorted(by_batch.items(), key=lambda kv: int(kv[0]))
          if stats['p99'] > limits[int(batch)]]


def blessed(report: dict) -> bool:
  return report['checked'] and not report['reasons']


def describe(report: dict) -> str:
  """The verdict in a few lines, for the component's log and the run summary."""
  if not blessed(report):
    return ('ServingCheck REFUSED ' + report['model'] + ':\n' +
            '\n'.join(f'  - {reason}' for reason in report['reasons']))
  lines = [f'ServingCheck PASSED {report["model"]}: {report["warmup_requests"]} warmup '
           f'requests replayed through {", ".join(sorted(report["max_difference"]))} in a '
           'fresh process, outputs within '
           f'{max(report["max_difference"].values(), default=0.0):.2g} of the Trainer\'s']
  for name, by_batch in sorted(report['latency_ms'].items()):
    lines.append(f'  {name}: ' + '; '.join(
        f'batch {batch} median {s["median"]:.1f} ms, p99 {s["p99"]:.1f} ms'
        for batch, s in sorted(by_batch.items(), key=lambda kv: int(kv[0]))))
  return '\n'.join(lines)


def finite_or_none(value: float) -> Optional[float]:
  """JSON has no infinity: an infinite difference is written as null."""
  return value if math.isfinite(value) else None
