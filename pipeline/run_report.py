"""Read a finished run's outputs back from MLMD and print what a person wants to know."""
import json
import os
from typing import Dict, Optional

import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.video_ingest.summary import SUMMARY_FILE, format_summary


def latest_artifacts(config: metadata_store_pb2.ConnectionConfig) -> Dict[str, object]:
  """The newest live artifact of each type, keyed by type name."""
  store = metadata_store.MetadataStore(config)
  latest = {}
  for artifact_type in store.get_artifact_types():
    artifacts = [a for a in store.get_artifacts_by_type(artifact_type.name)
                 if a.state == metadata_store_pb2.Artifact.LIVE]
    if artifacts:
      latest[artifact_type.name] = max(artifacts, key=lambda a: a.id)
  return latest


def ingest_summary(examples_uri: str) -> Optional[dict]:
  path = os.path.join(examples_uri, SUMMARY_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def report(config: metadata_store_pb2.ConnectionConfig) -> str:
  """Lines describing the latest Examples, statistics, schema and anomalies."""
  latest = latest_artifacts(config)
  lines = []
  if 'Examples' in latest:
    uri = latest['Examples'].uri
    summary = ingest_summary(uri)
    lines.append(f'Examples: {uri}')
    if summary:
      lines.append(format_summary(summary))
  for name, label in (('ExampleStatistics', 'Statistics'), ('Schema', 'Schema'),
                      ('ExampleAnomalies', 'Anomalies')):
    if name in latest:
      lines.append(f'{label}: {latest[name].uri}')
  return '\n'.join(lines)
