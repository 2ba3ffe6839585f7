"""Subject-level split assignment and pseudonymisation.

Splitting by a hash of the subject (never the frame) is what keeps one person's
frames out of both train and test; the hash makes it stable across reruns and across
manifests that grow, so a subject never migrates between splits.
"""
import hashlib
import hmac
from typing import Dict, Sequence

SPLIT_NAMES = ('train', 'eval', 'test')
DEFAULT_RATIOS = (0.70, 0.15, 0.15)
DEFAULT_SALT = 'palsy-tfx'


def validate_ratios(ratios: Sequence[float]) -> Dict[str, float]:
  if len(ratios) != len(SPLIT_NAMES) or any(r < 0 for r in ratios) or sum(ratios) <= 0:
    raise ValueError(f'split ratios must be three non-negative numbers for '
                     f'{"/".join(SPLIT_NAMES)}, got {list(ratios)}')
  total = float(sum(ratios))
  return {name: r / total for name, r in zip(SPLIT_NAMES, ratios)}


def split_for_subject(subject_id: str, ratios: Sequence[float] = DEFAULT_RATIOS) -> str:
  """Deterministic split of a raw subject id; independent of the pseudonym salt."""
  fractions = validate_ratios(ratios)
  digest = hashlib.sha256(('split:' + subject_id).encode('utf-8')).digest()
  point = int.from_bytes(digest[:8], 'big') / 2.0**64
  cumulative = 0.0
  for name in SPLIT_NAMES:
    cumulative += fractions[name]
    if point < cumulative:
      return name
  return SPLIT_NAMES[-1]


def pseudonymise(subject_id: str, salt: str = DEFAULT_SALT) -> str:
  """Salted HMAC-SHA256 of the subject id, so raw ids never leave the manifest."""
  return hmac.new(salt.encode('utf-8'), subject_id.encode('utf-8'),
                  hashlib.sha256).hexdigest()[:20]
