"""The one palsy-tfx pipeline definition.

Everything environment-specific (paths, Beam args, metadata, images) is an argument,
so the local and Kubeflow runners share this function and differ only in what they
pass, as TFX's taxi template does.
"""
from typing import Dict, List, Optional, Sequence

from tfx import v1 as tfx
from ml_metadata.proto import metadata_store_pb2

from components.anomaly_gate import AnomalyGate
from components.video_ingest.component import VideoIngest
from components.video_ingest import splits


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    manifest_path: str,
    beam_pipeline_args: Optional[List[str]] = None,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    stop_after: str = 'validate',
    source_fps: Optional[Dict[str, float]] = None,
    split_ratios: Sequence[float] = splits.DEFAULT_RATIOS,
    salt: str = splits.DEFAULT_SALT,
    ingest_image_size: int = 224,
    input_fingerprint: Optional[str] = None,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
  """Ingest -> StatisticsGen -> SchemaGen -> ExampleValidator -> AnomalyGate.

  ``stop_after='ingest'`` builds only the ingest component.
  """
  ingest = VideoIngest(manifest_path=manifest_path, input_fingerprint=input_fingerprint,
                       source_fps=source_fps, split_ratios=split_ratios, salt=salt,
                       image_size=ingest_image_size)
  components = [ingest]
  if stop_after != 'ingest':
    statistics = tfx.components.StatisticsGen(examples=ingest.outputs['examples'])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs['statistics'])
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs['statistics'], schema=schema.outputs['schema'])
    gate = AnomalyGate(anomalies=validator.outputs['anomalies'])
    components += [statistics, schema, validator, gate]
  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name, pipeline_root=pipeline_root, components=components,
      enable_cache=enable_cache, metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [])
