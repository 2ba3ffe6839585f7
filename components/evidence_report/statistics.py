"""The data statistics of the report: TFDV's own view, and a table that works offline.

TFDV renders its statistics with Facets, which the page loads from cdnjs and
raw.githubusercontent.com; clinical networks often block both. The table here, made
from the same StatisticsGen protos, shows the essentials without any network.
"""
from typing import Dict, List

from tensorflow_metadata.proto.v0 import statistics_pb2

# TFDV writes this in place of each value of a binary feature (our JPEG crops).
_BYTES_PLACEHOLDER = '__BYTES_VALUE__'
_TOP_VALUES = 3
FEATURE_HEADER = ('feature', 'type', 'values per example', 'missing', 'summary')


def _summary(feature: statistics_pb2.FeatureNameStatistics) -> str:
  kind = feature.WhichOneof('stats')
  stats = getattr(feature, kind)
  if kind == 'num_stats':
    return f'min {stats.min:.4g}, mean {stats.mean:.4g}, max {stats.max:.4g}'
  if kind == 'string_stats':
    top = [f'{v.value} ({v.frequency:g})' for v in stats.top_values[:_TOP_VALUES]
           if v.value != _BYTES_PLACEHOLDER]
    return f'{stats.unique} unique' + (f'; most frequent: {", ".join(top)}' if top else '')
  if kind == 'bytes_stats':
    return f'{stats.unique} unique, {stats.avg_num_bytes:.0f} bytes on average'
  return kind or 'no statistics'


def _common(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
  kind = feature.WhichOneof('stats')
  return getattr(feature, kind).common_stats if kind else statistics_pb2.CommonStatistics()


def feature_rows(dataset: statistics_pb2.DatasetFeatureStatistics) -> List[List[str]]:
  """One row per feature (FEATURE_HEADER), sorted by name."""
  rows = []
  for feature in sorted(dataset.features, key=lambda f: '.'.join(f.path.step) or f.name):
    common = _common(feature)
    per_example = (f'{common.min_num_values}' if common.min_num_values == common.max_num_values
                   else f'{common.min_num_values}-{common.max_num_values}')
    rows.append(['.'.join(feature.path.step) or feature.name,
                 statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
                 per_example, str(common.num_missing), _summary(feature)])
  return rows


def facets_html(by_split: Dict[str, statistics_pb2.DatasetFeatureStatisticsList]) -> str:
  """TFDV's Facets view comparing the train split (what the model learned from) with
  the test split (what it was judged on); a single split is shown alone."""
  from tensorflow_data_validation.utils import display_util  # pylint: disable=g-import-not-at-top
  names = [name for name in ('train', 'test') if name in by_split] or sorted(by_split)[:1]
  if len(names) == 1:
    return display_util.get_statistics_html(by_split[names[0]], lhs_name=names[0])
  return display_util.get_statistics_html(by_split['train'], by_split['test'],
                                          lhs_name='train', rhs_name='test')
