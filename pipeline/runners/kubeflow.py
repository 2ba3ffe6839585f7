"""Compile the palsy-tfx pipeline into a Kubeflow Pipelines V2 package.

Only paths, images and resources are chosen here; the pipeline is create_pipeline's,
with the same options as a local run (``pipeline.options``). TFX's
``KubeflowV2DagRunner`` builds the PipelineSpec; kfp's own writer then writes it as a
YAML package with a second document, the Kubernetes PlatformSpec, which hands the
VideoIngest container the pseudonym key from a Kubernetes Secret at run time. The
package holds the Secret's name, never a key.

The compiler never reads media: a bucket of videos may be out of its reach, and
statting each of them would take long. So the dataset's fingerprint (ingest's cache
key) must be given for a remote manifest; a local one may be hashed here as locally.
"""
import dataclasses
import os
import threading
from typing import Callable, Optional, Tuple, TypeVar

from google.protobuf import json_format
from kfp.compiler import pipeline_spec_builder
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as runner_lib
from tfx.orchestration.kubeflow.v2 import pipeline_builder

from components.video_ingest import manifest, pseudonyms
from pipeline import configs
from pipeline.options import (DataOptions, Gates, KubeflowOptions, ModelOptions,
                              RuntimeOptions, ServingOptions)
from pipeline.pipeline import create_pipeline
from preprocessing import storage
from trainer import devices

# TFX names a component's executor '<component id>_executor'.
INGEST_EXECUTOR = 'VideoIngest_executor'
TRAINER = 'Trainer'
TUNER = 'Tuner'  # with --tune; it trains the Trainer's model, on the same image and resources
# The containers that train: the GPU image, the resources and the GPU requirement are theirs.
TRAINING_EXECUTORS = (f'{TRAINER}_executor', f'{TUNER}_executor')

T = TypeVar('T')
_Resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def compile_fingerprint(data: DataOptions) -> str:
  """The dataset's fingerprint for a compiled pipeline: the given one; for a local
  manifest whose media are all here, ``manifest.fingerprint`` as a local run computes it.
  Otherwise a ValueError that says why one must be given."""
  if data.input_fingerprint:
    return data.input_fingerprint
  why = ('the compiler never reads media, so it cannot tell one version of the dataset '
         "from another; give --input-fingerprint (the dataset's version, e.g. a date or a "
         'commit of the manifest) and change it whenever the data changes, or the cluster '
         'serves the old ingest from its cache')
  if storage.is_remote(data.manifest):
    raise ValueError(f'--manifest {data.manifest} is remote: {why}')
  _, failures = manifest.check_rows(data.manifest, manifest.read_rows(data.manifest),
                                    data.numeric_labels)
  missing = [f.path for f in failures if f.reason.endswith('file not found')]
  if missing:
    raise ValueError(f'--manifest {data.manifest} names {len(missing)} media file(s) not on '
                     f'this machine (first: {missing[0]}): {why}')
  return manifest.fingerprint(data.manifest)


def within(timeout_s: float, read: Callable[[], T]) -> T:
  """``read()``'s answer, or TimeoutError after ``timeout_s``. The read runs in a daemon
  thread: a bucket with no route answers only when the network gives up, and the thread
  left waiting must not keep the process from exiting."""
  answer: list = []
  thread = threading.Thread(target=lambda: answer.append(_outcome(read)), daemon=True)
  thread.start()
  thread.join(timeout_s)
  if not answer:
    raise TimeoutError(f'no answer in {timeout_s:g} s')
  ok, value = answer[0]
  if not ok:
    raise value
  return value


def _outcome(read):
  try:
    return True, read()
  except Exception as e:  # pylint: disable=broad-except
    return False, e


def compile_grades(data: DataOptions, timeout_s: float = configs.DEFAULT_READ_TIMEOUT_S
                   ) -> Optional[Tuple[int, ...]]:
  """The grades the manifest holds: given (``--grades``), or read from the manifest's
  label column (the CSV alone, never media), waiting at most ``timeout_s``."""
  if data.grades:
    return data.grades
  avoid = 'name the grades it holds with --grades, e.g. --grades normal mild severe'
  try:
    return tuple(within(timeout_s, lambda: manifest.grades_present(
        data.manifest, data.numeric_labels))) or None
  except TimeoutError as e:
    raise ValueError(f'reading {data.manifest} for its grades at compile time: {e} '
                     f'(--read-timeout); {avoid}') from e
  except OSError as e:  # Beam's BeamIOError for a bucket, too
    raise ValueError(f'cannot read {data.manifest} at compile time ({e}); {avoid}') from e


def compile_data(data: DataOptions, timeout_s: float = configs.DEFAULT_READ_TIMEOUT_S
                 ) -> DataOptions:
  """The data options as the compiled pipeline states them."""
  if not storage.is_remote(data.manifest):
    data = dataclasses.replace(data, manifest=os.path.abspath(data.manifest))
  return dataclasses.replace(data, input_fingerprint=compile_fingerprint(data),
                             grades=compile_grades(data, timeout_s))


def trainer_resources(deployment: KubeflowOptions) -> _Resources:
  spec = _Resources(cpu_limit=deployment.trainer_cpu,
                    memory_limit=deployment.trainer_memory_gb)
  if deployment.gpus:
    spec.accelerator.CopyFrom(
        _Resources.AcceleratorConfig(type='nvidia.com/gpu', count=deployment.gpus))
  return spec


def platform_spec() -> pipeline_spec_pb2.PlatformSpec:
  """The Kubernetes settings of the run, as kfp-kubernetes's ``use_secret_as_env``
  writes them: the VideoIngest container gets ``pseudonyms.KEY_ENV`` from the Secret."""
  return json_format.ParseDict({'platforms': {'kubernetes': {'deploymentSpec': {'executors': {
      INGEST_EXECUTOR: {'secretAsEnv': [{
          'secretName': pseudonyms.SECRET_NAME,
          'keyToEnv': [{'secretKey': pseudonyms.SECRET_KEY, 'envVar': pseudonyms.KEY_ENV}]}]}}}}}},
                               pipeline_spec_pb2.PlatformSpec())


def compile_job(data: DataOptions, model: ModelOptions, gates: Gates,
                serving: ServingOptions, runtime: RuntimeOptions,
                deployment: KubeflowOptions) -> dict:
  """TFX's PipelineJob (as a JSON dict) for these options."""
  images = deployment.image
  if deployment.gpu_image:  # per-component images; TFX reads the default from this key
    images = {pipeline_builder.DEFAULT_IMAGE_PATH_KEY: deployment.image,
              TRAINER: deployment.gpu_image, TUNER: deployment.gpu_image}
  pipeline = create_pipeline(
      pipeline_name=configs.PIPELINE_NAME, pipeline_root=deployment.pipeline_root,
      data=compile_data(data, deployment.read_timeout_s), model=model, gates=gates, serving=serving,
      beam_pipeline_args=runtime.beam_pipeline_args(()), enable_cache=runtime.enable_cache,
      trainer_resources=trainer_resources(deployment),
      tuner_resources=trainer_resources(deployment))
  runner = runner_lib.KubeflowV2DagRunner(
      config=runner_lib.KubeflowV2DagRunnerConfig(default_image=images))
  job = runner.run(pipeline, write_out=False)
  if deployment.gpus:
    # The GPU image says so too; the package says it for whatever image runs the Trainer
    # (and the Tuner): with GPUs requested, training on the CPU is a failure, not a fallback.
    executors = job['pipelineSpec']['deploymentSpec']['executors']
    for name in TRAINING_EXECUTORS:
      if name in executors:
        executors[name]['container'].setdefault('env', []).append(
            {'name': devices.REQUIRE_GPU_ENV, 'value': '1'})
  return job


def compile_package(data: DataOptions, model: ModelOptions, gates: Gates,
                    serving: ServingOptions, runtime: RuntimeOptions,
                    deployment: KubeflowOptions) -> str:
  """Write the package (``deployment.output``) and return its path.

  The package is what kfp's compiler writes and ``kfp.Client`` reads: the PipelineSpec,
  then the PlatformSpec. TFX's PipelineJob wraps the spec with a runtime config whose
  only setting is the pipeline root (no runtime parameters are used), which the spec
  carries as its default root.
  """
  job = compile_job(data, model, gates, serving, runtime, deployment)
  runtime_config = dict(job.get('runtimeConfig', {}))
  runtime_config.pop('gcsOutputDirectory', None)
  if runtime_config:
    raise ValueError(f'unexpected runtime parameters in the compiled job: {runtime_config}')
  spec = json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())
  spec.default_pipeline_root = deployment.pipeline_root
  output = os.path.abspath(deployment.output)
  os.makedirs(os.path.dirname(output), exist_ok=True)
  pipeline_spec_builder.write_pipeline_spec_to_file(
      spec, 'palsy-tfx: facial paralysis grading (compiled from TFX)', platform_spec(), output)
  return output
