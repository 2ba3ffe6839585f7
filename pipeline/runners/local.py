"""Run the pipeline on this machine: LocalDagRunner, SQLite MLMD, multi-process Beam.

Only paths, Beam options and the dataset's fingerprint are chosen here; the pipeline
itself is create_pipeline's, and the run summary ``summary.summarize``'s.
"""
import contextlib
import dataclasses
import os

from tfx import v1 as tfx

from components.video_ingest import component as ingest_component
from pipeline import configs
from pipeline.options import DataOptions, Gates, ModelOptions, RuntimeOptions, ServingOptions
from pipeline.pipeline import create_pipeline
from pipeline.runners import artifacts, summary
from pipeline.runners.preflight import local_data


def run(pipeline_root: str, data: DataOptions, model: ModelOptions = ModelOptions(),
        gates: Gates = Gates(), serving: ServingOptions = ServingOptions(),
        runtime: RuntimeOptions = RuntimeOptions(), stop_after: str = 'push') -> str:
  """Run the local pipeline and return the MLMD SQLite path. A run that ends before the
  Evaluator takes any cohort: a grade that cannot fill the test split is ingest's
  warning, not its stop (``ingest_component.SPLIT_CHECK_ENV``)."""
  os.environ.setdefault('TF_FORCE_GPU_ALLOW_GROWTH', 'true')
  pipeline_root = os.path.abspath(pipeline_root)
  metadata_path = configs.local_metadata_path(pipeline_root)
  os.makedirs(pipeline_root, exist_ok=True)
  serving = dataclasses.replace(serving, serving_dir=os.path.abspath(
      serving.serving_dir or os.path.join(pipeline_root, 'serving')))
  beam_args = runtime.beam_pipeline_args(configs.LOCAL_BEAM_ARGS)
  pipeline = create_pipeline(
      pipeline_name=configs.PIPELINE_NAME,
      pipeline_root=pipeline_root,
      data=local_data(data, beam_args), model=model, gates=gates, serving=serving,
      beam_pipeline_args=beam_args,
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)),
      stop_after=stop_after, enable_cache=runtime.enable_cache)
  evaluates = stop_after in ('evaluate', 'push')
  with _environment(ingest_component.SPLIT_CHECK_ENV, 'stop' if evaluates else 'warn'):
    tfx.orchestration.LocalDagRunner().run(pipeline)
  return metadata_path


@contextlib.contextmanager
def _environment(name: str, value: str):
  """``name=value`` in this process's environment for the block, as it was after."""
  before = os.environ.get(name)
  os.environ[name] = value
  try:
    yield
  finally:
    if before is None:
      os.environ.pop(name, None)
    else:
      os.environ[name] = before


def run_and_summarize(pipeline_root: str, **kwargs) -> dict:
  """Run the local pipeline (``run``), print its run summary and return the outcome
  (``summary.summarize``)."""
  metadata_path = run(pipeline_root, **kwargs)
  print()
  return summary.summarize(artifacts.sqlite_config(metadata_path))
