"""Find a pipeline's artifacts in MLMD without loading TensorFlow.

The run summary and ``palsy-tfx headline`` both look artifacts up here; the latter must
answer in a second, so this module imports ml-metadata and nothing heavier.
"""
from typing import Dict, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


def run_artifacts(config: metadata_store_pb2.ConnectionConfig) -> Dict[str, object]:
  """This run's output artifacts, keyed by type name (the newest pipeline_run context).

  A Resolver's execution "outputs" the earlier model it resolved, so resolver
  executions are skipped: their artifacts belong to the run that made them.
  """
  store = metadata_store.MetadataStore(config)
  runs = store.get_contexts_by_type('pipeline_run')
  if not runs:
    return {}
  run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
  execution_types = {t.id: t.name for t in store.get_execution_types()}
  executions = [e for e in store.get_executions_by_context(run.id)
                if not execution_types[e.type_id].endswith('.Resolver')]
  events = store.get_events_by_execution_ids([e.id for e in executions])
  ids = sorted({e.artifact_id for e in events if e.type in _OUTPUT_EVENTS})
  types = {t.id: t.name for t in store.get_artifact_types()}
  return {types[a.type_id]: a for a in store.get_artifacts_by_id(ids)}


def newest_artifact(config: metadata_store_pb2.ConnectionConfig, type_name: str
                    ) -> Optional[metadata_store_pb2.Artifact]:
  """The most recently created live artifact of a type, from any run; None if none."""
  store = metadata_store.MetadataStore(config)
  live = [a for a in store.get_artifacts_by_type(type_name)
          if a.state == metadata_store_pb2.Artifact.LIVE]
  return max(live, key=lambda a: (a.create_time_since_epoch, a.id), default=None)


def sqlite_config(path: str) -> metadata_store_pb2.ConnectionConfig:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return config
