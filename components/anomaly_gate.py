"""Stop the pipeline when ExampleValidator found anomalies.

TFX's ExampleValidator only records anomalies; nothing downstream refuses them. This
component fails the run with a readable list, and the Trainer depends on it, so no
model is ever trained on data that broke the schema.
"""
import os

import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from tensorflow_metadata.proto.v0 import anomalies_pb2

from preprocessing.stops import RunStopped


class AnomaliesFound(RunStopped):
  """The data broke the schema."""


def describe_anomalies(anomalies_uri: str, split_names) -> list:
  """One line per anomalous feature: 'split/feature: description'."""
  problems = []
  for split in split_names:
    path = os.path.join(anomalies_uri, f'Split-{split}', 'SchemaDiff.pb')
    if not tf.io.gfile.exists(path):
      continue
    result = anomalies_pb2.Anomalies()
    result.ParseFromString(io_utils.read_bytes_file(path))
    for feature, info in sorted(result.anomaly_info.items()):
      problems.append(f'{split}/{feature}: {info.short_description} '
                      f'({info.description})')
    if result.HasField('dataset_anomaly_info'):
      info = result.dataset_anomaly_info
      problems.append(f'{split}: {info.short_description} ({info.description})')
  return problems


@component
def AnomalyGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies]) -> None:
  """Raise AnomaliesFound listing every anomaly; pass silently on clean data."""
  splits = artifact_utils.decode_split_names(anomalies.split_names)
  problems = describe_anomalies(anomalies.uri, splits)
  if problems:
    raise AnomaliesFound('ExampleValidator found anomalies; the run stops here:\n  ' +
                         '\n  '.join(problems))
  print(f'[validate] no anomalies in splits {", ".join(splits)}', flush=True)
