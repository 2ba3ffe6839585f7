"""Run the pipeline on this machine: LocalDagRunner, SQLite MLMD, multi-process Beam.

Only paths and Beam options are chosen here; the pipeline itself is create_pipeline's.
"""
import os
from typing import List, Optional

from tfx import v1 as tfx

from pipeline import configs
from pipeline.pipeline import create_pipeline
from preprocessing import storage


def run(manifest_path: str, pipeline_root: str, serving_dir: Optional[str] = None,
        stop_after: str = 'push', beam_pipeline_args: Optional[List[str]] = None,
        **pipeline_kwargs) -> str:
  """Run the local pipeline and return the MLMD SQLite path."""
  os.environ.setdefault('TF_FORCE_GPU_ALLOW_GROWTH', 'true')
  pipeline_root = os.path.abspath(pipeline_root)
  metadata_path = configs.local_metadata_path(pipeline_root)
  os.makedirs(pipeline_root, exist_ok=True)
  pipeline = create_pipeline(
      pipeline_name=configs.PIPELINE_NAME,
      pipeline_root=pipeline_root,
      manifest_path=(manifest_path if storage.is_remote(manifest_path)
                     else os.path.abspath(manifest_path)),
      serving_dir=os.path.abspath(serving_dir or os.path.join(pipeline_root, 'serving')),
      beam_pipeline_args=beam_pipeline_args or configs.LOCAL_BEAM_ARGS,
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)),
      stop_after=stop_after,
      **pipeline_kwargs)
  tfx.orchestration.LocalDagRunner().run(pipeline)
  return metadata_path
