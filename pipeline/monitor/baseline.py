"""What the graded inputs are compared with: the training split's statistics, or an earlier
grading.

``--baseline`` may name

- a local pipeline root: its newest StatisticsGen artifact, found in the run's MLMD as the
  run summary and ``palsy-tfx headline`` find theirs (``pipeline.runners.artifacts``), and
  its ``train`` split, the examples the model learned from;
- a StatisticsGen artifact's folder itself (it holds ``Split-train/FeatureStats.pb``): the
  way in for a pipeline that ran on Kubeflow, whose MLMD is the cluster's;
- an earlier grading, read like ``--graded`` (``graded.read``): the first month after a
  rollout, say. Then the per-input descriptors (frames sampled, faces found, confidence,
  grade), which the training split has no statistics of, are compared too.

The training statistics are TFDV's, made by StatisticsGen over the examples, whose
descriptors ingest recorded with ``preprocessing.descriptors``: the function ``predict``
used for the graded frames.
"""
import dataclasses
import os
from typing import Optional

from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline import configs
from pipeline.monitor import graded as graded_inputs
from pipeline.monitor.graded import GradedInputError

TRAIN_SPLIT = 'train'
STATISTICS_TYPE = 'ExampleStatistics'
STATS_FILE = 'FeatureStats.pb'  # tfx.components.statistics_gen.stats_artifact_utils's


@dataclasses.dataclass
class Baseline:
  """The training split's statistics (``statistics``), or an earlier grading (``graded``);
  ``described`` says which, for the printout and the page (no path of a patient's file)."""
  described: str
  statistics: Optional[statistics_pb2.DatasetFeatureStatistics] = None
  graded: Optional[graded_inputs.Graded] = None


def _read_statistics(artifact_uri: str, shown: str) -> statistics_pb2.DatasetFeatureStatistics:
  path = os.path.join(artifact_uri, f'Split-{TRAIN_SPLIT}', STATS_FILE)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (gs:// and the like)
  if not tf.io.gfile.exists(path):
    raise GradedInputError(f'{shown}: no statistics of the {TRAIN_SPLIT} split ({path})')
  with tf.io.gfile.GFile(path, 'rb') as f:
    data = f.read()
  try:
    stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(data)
  except Exception as e:  # pylint: disable=broad-except  (protobuf's DecodeError)
    raise GradedInputError(f'{path}: not TFDV statistics: {e}') from e
  if len(stats.datasets) != 1:
    raise GradedInputError(f'{path}: {len(stats.datasets)} datasets; StatisticsGen writes one')
  return stats.datasets[0]


def _from_pipeline_root(root: str) -> Baseline:
  from pipeline.runners import artifacts  # pylint: disable=g-import-not-at-top
  metadata = configs.local_metadata_path(os.path.abspath(root))
  found = artifacts.newest_artifact(artifacts.sqlite_config(metadata), STATISTICS_TYPE)
  if found is None:
    raise GradedInputError(f'{metadata}: no {STATISTICS_TYPE} artifact in this pipeline root '
                           '(palsy-tfx run makes one from --stop-after validate on)')
  stats = _read_statistics(found.uri, f'{metadata}: {STATISTICS_TYPE} {found.id}')
  return Baseline(f'the {TRAIN_SPLIT} split of {root} ({STATISTICS_TYPE} {found.id}, '
                  f'{stats.num_examples} frames)', statistics=stats)


def read(path: str) -> Baseline:
  """The baseline ``path`` names (see the module's docstring); GradedInputError, naming
  the file, when it is none of them."""
  if os.path.isfile(configs.local_metadata_path(path)):
    return _from_pipeline_root(path)
  if '://' in path or os.path.isdir(os.path.join(path, f'Split-{TRAIN_SPLIT}')):
    stats = _read_statistics(path, path)
    return Baseline(f'the {TRAIN_SPLIT} split statistics in {path} ({stats.num_examples} '
                    'frames)', statistics=stats)
  if not os.path.exists(path):
    raise GradedInputError(f'{path}: no such file or folder')
  try:
    earlier = graded_inputs.read(path)
  except GradedInputError as e:
    metadata = os.path.basename(configs.local_metadata_path(path))
    raise GradedInputError(
        f'{e} (--baseline is a pipeline root with {metadata}, a StatisticsGen artifact '
        f'folder with Split-{TRAIN_SPLIT}/, or an earlier grading)') from None
  return Baseline(f'the earlier grading {path} ({len(earlier.inputs)} inputs, {earlier.frames} '
                  'frames)', graded=earlier)
