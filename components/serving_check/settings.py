"""The ServingCheck's settings: what a run may set, with its defaults, checked once.

Light (no TensorFlow, no numpy), so that ``pipeline/options.py`` declares the command
line's flags from these defaults without loading either.
"""
import dataclasses
import json
from typing import Tuple

BATCH_SIZES = (1, 32)  # the latency is measured at each; 32 is the serving kit's max batch


@dataclasses.dataclass(frozen=True)
class Settings:
  """``tolerance``: the largest absolute difference allowed between an output of the
  fresh process and the Trainer's (NaN equals NaN; strings must be equal).
  ``latency_requests``: the requests timed per signature and batch size.
  ``max_p99_ms``: the limit on the 99th percentile of those, per ``BATCH_SIZES``.
  ``timeout_seconds``: how long the fresh process may take in all."""
  tolerance: float = 1e-5
  latency_requests: int = 50
  max_p99_ms: Tuple[float, ...] = (1000.0, 20000.0)
  timeout_seconds: int = 1800

  def __post_init__(self):
    if not self.tolerance >= 0:
      raise ValueError(f'ServingCheck tolerance must be >= 0, got {self.tolerance}')
    if self.latency_requests < 1:
      raise ValueError(f'ServingCheck latency_requests must be >= 1, got '
                       f'{self.latency_requests}')
    if len(self.max_p99_ms) != len(BATCH_SIZES) or not all(m > 0 for m in self.max_p99_ms):
      raise ValueError(f'ServingCheck max_p99_ms takes one limit > 0 per batch size '
                       f'{BATCH_SIZES}, got {tuple(self.max_p99_ms)}')
    if self.timeout_seconds < 1:
      raise ValueError(f'ServingCheck timeout_seconds must be >= 1, got '
                       f'{self.timeout_seconds}')

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, text: str) -> 'Settings':
    fields = json.loads(text)
    return cls(**{**fields, 'max_p99_ms': tuple(fields['max_p99_ms'])})
