"""The drift config: which descriptors ``palsy-tfx monitor`` watches, with which of TFDV's
drift comparators and thresholds.

It is TFDV's own Schema in text format, a ``feature`` per watched descriptor with its
``drift_comparator``, so the thresholds are read by TFDV itself
(``tfdv.validate_statistics(..., previous_statistics=...)``) and a reader who knows TFDV
knows the file. ``DEFAULT_FILE`` (``drift_config.pbtxt`` beside this module) holds the
defaults and says why; a copy passed with ``--drift-config`` replaces it whole. The file is
checked when read, so a mistyped name or a comparator of the wrong kind is named with its
file before any statistics are computed.
"""
import os
from typing import Dict

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from preprocessing import descriptors

DEFAULT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'drift_config.pbtxt')
# The descriptors a config may name, with the kind of value each is. 'grade' is the only
# categorical one: it takes infinity_norm, every other one jensen_shannon_divergence.
FRAME_FEATURES = {name: schema_pb2.FLOAT for name in descriptors.FRAME_KEYS}
INPUT_FEATURES = {'frames_sampled': schema_pb2.INT, 'faces_found': schema_pb2.INT,
                  'confidence': schema_pb2.FLOAT, 'grade': schema_pb2.BYTES}
assert tuple(INPUT_FEATURES) == descriptors.INPUT_KEYS
CATEGORICAL = ('grade',)
JSD, LINF = 'jensen_shannon_divergence', 'infinity_norm'


class DriftConfigError(ValueError):
  """A drift config that cannot be used; the message names the file."""


def comparator(feature: schema_pb2.Feature) -> str:
  """'jensen_shannon_divergence' or 'infinity_norm': the one comparator a feature sets."""
  return JSD if feature.drift_comparator.HasField(JSD) else LINF


def threshold(feature: schema_pb2.Feature) -> float:
  return getattr(feature.drift_comparator, comparator(feature)).threshold


def _check(schema: schema_pb2.Schema, path: str) -> None:
  known = {**FRAME_FEATURES, **INPUT_FEATURES}
  seen = set()
  for feature in schema.feature:
    where = f'{path}: feature {feature.name!r}'
    if feature.name not in known:
      raise DriftConfigError(f'{where} is no descriptor; the monitor watches '
                             f'{", ".join(known)}')
    if feature.name in seen:
      raise DriftConfigError(f'{where} is named twice')
    seen.add(feature.name)
    if feature.type != known[feature.name]:
      raise DriftConfigError(
          f'{where} has type {schema_pb2.FeatureType.Name(feature.type)}; it is '
          f'{schema_pb2.FeatureType.Name(known[feature.name])}')
    want = LINF if feature.name in CATEGORICAL else JSD
    other = JSD if want == LINF else LINF
    set_fields = [f.name for f, _ in feature.drift_comparator.ListFields()]
    if set_fields != [want]:
      raise DriftConfigError(
          f'{where} needs drift_comparator {{ {want} {{ threshold: ... }} }} '
          f'({"categorical" if want == LINF else "numeric"}: not {other}); it has '
          f'{", ".join(set_fields) or "none"}')
    limit = getattr(feature.drift_comparator, want).threshold
    if not 0 < limit <= 1:
      raise DriftConfigError(f'{where}: threshold {limit:g} is not in (0, 1]; both measures '
                             'lie between 0 and 1')
  if not seen:
    raise DriftConfigError(f'{path}: no feature to watch')


def read(path: str = DEFAULT_FILE) -> schema_pb2.Schema:
  """The checked config at ``path``; DriftConfigError names the file and what is wrong."""
  try:
    with open(path) as f:
      text = f.read()
  except OSError as e:
    raise DriftConfigError(f'{path}: cannot read the drift config: {e.strerror or e}') from e
  try:
    schema = text_format.Parse(text, schema_pb2.Schema())
  except text_format.ParseError as e:
    raise DriftConfigError(f'{path}: not a drift config (TFDV Schema text format): {e}') from e
  _check(schema, path)
  return schema


def by_name(schema: schema_pb2.Schema) -> Dict[str, schema_pb2.Feature]:
  return {feature.name: feature for feature in schema.feature}
