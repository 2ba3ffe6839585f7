"""TFDV statistics of the graded inputs, and TFDV's drift comparators against the baseline.

The graded rows (``graded.Graded``) get TFDV's statistics as StatisticsGen's examples
did (``tfdv.generate_statistics_from_dataframe``, TFDV's default options), and
``tfdv.validate_statistics(graded, schema, previous_statistics=baseline)`` measures each
watched feature with the comparator the drift config gives it: the Jensen-Shannon
divergence of the two histograms for a numeric descriptor, the L-infinity distance of the
two shares of each value for the categorical ``grade``.

One change to TFDV's input, and why. TFDV compares numeric features on their standard
histograms, 10 equal-width buckets from each side's own minimum to its own maximum, and
first re-buckets both onto the union of their bucket edges by assuming that values lie
evenly within a bucket. The face detector's boxes come in the steps of its image pyramid
(about 20% apart), so ``face_size`` takes a few values, and that assumption then spreads a
bucket's frames where the other side has none: measured here, two samples of the same
synthetic subjects differed by 0.4 on ``face_size``, their histograms by little. So the
graded values are counted into the baseline's own buckets (plus one below and one above
for values outside its range), and TFDV's comparator compares like with like.
"""
import dataclasses
from typing import Dict, List, Optional

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline.monitor import config as drift_config
from pipeline.monitor.baseline import Baseline
from pipeline.monitor.graded import Graded, GradedInputError

# Below these, the histograms are too coarse to compare: a batch is refused (exit 2) with
# fewer frames with a face, and the per-input descriptors are left out with fewer inputs.
MIN_FRAMES = 30
MIN_INPUTS = 30
FRAME, INPUT = 'frame', 'input'
_STANDARD = statistics_pb2.Histogram.STANDARD


@dataclasses.dataclass
class FeatureDrift:
  name: str
  level: str          # FRAME or INPUT
  comparator: str     # drift_config.JSD or drift_config.LINF
  value: float
  threshold: float
  description: str    # TFDV's, when drifted
  baseline: dict      # what the page draws: {'edges', 'counts'} or {'values', 'counts'}
  graded: dict
  baseline_median: Optional[float] = None

  @property
  def drifted(self) -> bool:
    return self.value > self.threshold


@dataclasses.dataclass
class Comparison:
  features: List[FeatureDrift]
  not_compared: Dict[str, str]  # feature -> why

  @property
  def drifted(self) -> List[FeatureDrift]:
    return [f for f in self.features if f.drifted]


def statistics(columns: Dict[str, list]):
  """TFDV's statistics of ``columns`` (name -> values), one dataset."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.generate_statistics_from_dataframe(pd.DataFrame(columns)).datasets[0]


def _feature(dataset, name: str):
  for feature in dataset.features:
    if (feature.path.step and feature.path.step[0] == name) or feature.name == name:
      return feature
  return None


def _standard(feature):
  return next((h for h in feature.num_stats.histograms if h.type == _STANDARD), None)


def _edges(histogram) -> Optional[np.ndarray]:
  if histogram is None or not histogram.buckets:
    return None
  edges = np.array([histogram.buckets[0].low_value]
                   + [b.high_value for b in histogram.buckets], np.float64)
  return edges if np.all(np.diff(edges) > 0) else None


def rebucket(graded_feature, baseline_feature, values) -> None:
  """Replace the graded feature's standard histogram with counts of ``values`` in the
  baseline's buckets, and a bucket below and one above them for values outside."""
  edges = _edges(_standard(baseline_feature))
  histogram = _standard(graded_feature)
  if edges is None or histogram is None:
    return
  values = np.asarray(values, np.float64)
  counts, _ = np.histogram(values[(values >= edges[0]) & (values <= edges[-1])], edges)
  del histogram.buckets[:]
  below, above = values[values < edges[0]], values[values > edges[-1]]
  if below.size:
    histogram.buckets.add(low_value=below.min(), high_value=edges[0], sample_count=below.size)
  for low, high, n in zip(edges[:-1], edges[1:], counts):
    histogram.buckets.add(low_value=low, high_value=high, sample_count=float(n))
  if above.size:
    histogram.buckets.add(low_value=edges[-1], high_value=above.max(), sample_count=above.size)


def _drawn(feature) -> dict:
  """A feature's distribution as the page draws it."""
  if feature.HasField('num_stats'):
    histogram = _standard(feature)
    return {'edges': [histogram.buckets[0].low_value] + [b.high_value for b in histogram.buckets],
            'counts': [b.sample_count for b in histogram.buckets]}
  ranks = feature.string_stats.rank_histogram.buckets
  return {'values': [b.label for b in ranks], 'counts': [b.sample_count for b in ranks]}


def _compare(level: str, graded_columns: Dict[str, list], baseline_stats, names: List[str],
             config) -> List[FeatureDrift]:
  """TFDV's measure of each of ``names`` between the graded columns and the baseline."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  graded_stats = statistics({name: graded_columns[name] for name in names})
  watched = drift_config.by_name(config)
  schema = schema_pb2.Schema()
  # Drawn with their own buckets (the measure's catch every value outside the baseline's
  # range in one bucket below it and one above).
  drawn = {name: _drawn(_feature(graded_stats, name)) for name in names}
  for name in names:
    schema.feature.add().CopyFrom(watched[name])
    if drift_config.comparator(watched[name]) == drift_config.JSD:
      rebucket(_feature(graded_stats, name), _feature(baseline_stats, name),
               graded_columns[name])

  def as_list(dataset):
    return statistics_pb2.DatasetFeatureStatisticsList(datasets=[dataset])

  anomalies = tfdv.validate_statistics(as_list(graded_stats), schema,
                                       previous_statistics=as_list(baseline_stats))
  measured = {'.'.join(info.path.step): info.drift_measurements[0].value
              for info in anomalies.drift_skew_info if info.drift_measurements}
  found = []
  for name in names:
    if name not in measured:  # TFDV measures every feature with a comparator; guard anyway
      raise RuntimeError(f'TFDV gave no drift measure of {name}')
    feature = watched[name]
    base = _feature(baseline_stats, name)
    found.append(FeatureDrift(
        name, level, drift_config.comparator(feature), measured[name],
        drift_config.threshold(feature),
        anomalies.anomaly_info[name].description if name in anomalies.anomaly_info else '',
        _drawn(base), drawn[name],
        base.num_stats.median if base.HasField('num_stats') else None))
  return found


def compare(baseline: Baseline, graded: Graded, config) -> Comparison:
  """Every watched descriptor that both sides have, measured; the others, with why not."""
  if graded.frames < MIN_FRAMES:
    raise GradedInputError(
        f'{", ".join(graded.files)}: {graded.frames} frames with a face in '
        f'{len(graded.inputs)} graded inputs; the comparison needs at least {MIN_FRAMES}')
  watched = drift_config.by_name(config)
  not_compared = {}
  if baseline.graded is not None:
    frame_stats = statistics(_without_input(baseline.graded.frame_rows()))
    input_stats = (statistics(baseline.graded.input_rows())
                   if len(baseline.graded.inputs) >= MIN_INPUTS else None)
  else:
    frame_stats, input_stats = baseline.statistics, None
  frame_names = []
  for name in drift_config.FRAME_FEATURES:
    if name not in watched:
      continue
    if _feature(frame_stats, name) is None:
      not_compared[name] = ('not in the baseline: its examples were ingested before the '
                            'descriptors existed; ingest them again')
    else:
      frame_names.append(name)
  input_names = [name for name in drift_config.INPUT_FEATURES if name in watched]
  if input_names and baseline.statistics is not None:
    not_compared.update(dict.fromkeys(input_names, 'per input: the training split has no '
                                      'such statistics (compare with an earlier grading)'))
    input_names = []
  elif input_names and (input_stats is None or len(graded.inputs) < MIN_INPUTS):
    not_compared.update(dict.fromkeys(input_names, f'per input: fewer than {MIN_INPUTS} '
                                      'graded inputs on one side'))
    input_names = []
  if not frame_names and not input_names:
    why = '; '.join(f'{k}: {v}' for k, v in not_compared.items())
    raise GradedInputError(f'{baseline.described}: none of the watched descriptors can be '
                           f'compared ({why})')
  features = []
  if frame_names:
    features += _compare(FRAME, graded.frame_rows(), frame_stats, frame_names, config)
  if input_names:
    features += _compare(INPUT, graded.input_rows(), input_stats, input_names, config)
  return Comparison(features, not_compared)


def _without_input(columns: Dict[str, list]) -> Dict[str, list]:
  return {k: v for k, v in columns.items() if k != 'input'}
