"""Compile the palsy-tfx pipeline for Kubeflow Pipelines (V2 IR JSON).

Only paths, images and resources are chosen here; the pipeline is create_pipeline's.
This folder is deliberately not a Python package (a top-level ``kubeflow`` package
would shadow the ``kubeflow`` namespace of other distributions), so run it as a script:

  .venv/bin/python kubeflow/kubeflow_v2_runner.py --pipeline-root gs://BUCKET/root \\
      --manifest gs://BUCKET/data/manifest.csv --serving-dir gs://BUCKET/serving \\
      --image REGISTRY/palsy-tfx:TAG --gpu-image REGISTRY/palsy-tfx-gpu:TAG
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from kfp.pipeline_spec import pipeline_spec_pb2  # pylint: disable=g-import-not-at-top
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as runner_lib
from tfx.orchestration.kubeflow.v2 import pipeline_builder

from components.video_ingest import manifest  # pylint: disable=g-import-not-at-top
from pipeline import configs, options
from pipeline.pipeline import create_pipeline
from trainer.presets import DEFAULT_SEED

_Resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def trainer_resources(gpus: int, cpu: float, memory_gb: float) -> _Resources:
  spec = _Resources(cpu_limit=cpu, memory_limit=memory_gb)
  if gpus:
    spec.accelerator.CopyFrom(_Resources.AcceleratorConfig(type='nvidia.com/gpu', count=gpus))
  return spec


def compile_pipeline(args) -> str:
  """Write the pipeline JSON and return its path."""
  images = args.image
  if args.gpu_image:  # per-component images; TFX reads the default from this key
    images = {pipeline_builder.DEFAULT_IMAGE_PATH_KEY: args.image, 'Trainer': args.gpu_image}
  pipeline = create_pipeline(
      pipeline_name=configs.PIPELINE_NAME,
      pipeline_root=args.pipeline_root,
      manifest_path=args.manifest,
      serving_dir=args.serving_dir,
      input_fingerprint=args.input_fingerprint,
      numeric_labels=args.numeric_labels,
      alignment=args.alignment,
      beam_pipeline_args=args.beam_arg or [],
      trainer_config={'preset': args.model, 'image_size': args.image_size,
                      'weights': args.weights, 'overrides': {}, 'seed': args.seed},
      gates=options.gates_from_args(args),
      grades=manifest.grades_present(args.manifest, args.numeric_labels) or None,
      trainer_resources=trainer_resources(args.gpus, args.trainer_cpu, args.trainer_memory_gb))
  output = os.path.join(args.output_dir, f'{configs.PIPELINE_NAME}.json')
  os.makedirs(args.output_dir, exist_ok=True)
  runner = runner_lib.KubeflowV2DagRunner(
      config=runner_lib.KubeflowV2DagRunnerConfig(default_image=images),
      output_dir=args.output_dir, output_filename=os.path.basename(output))
  runner.run(pipeline, write_out=True)
  return output


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description='Compile palsy-tfx for Kubeflow Pipelines V2.')
  parser.add_argument('--pipeline-root', required=True)
  parser.add_argument('--manifest', required=True)
  options.add_numeric_labels_arg(parser)
  options.add_alignment_arg(parser)
  parser.add_argument('--serving-dir', required=True)
  parser.add_argument('--image', required=True, help='container image with palsy-tfx installed')
  parser.add_argument('--gpu-image', help='image for the Trainer (CUDA build)')
  parser.add_argument('--gpus', type=int, default=1)
  parser.add_argument('--trainer-cpu', type=float, default=8)
  parser.add_argument('--trainer-memory-gb', type=float, default=32)
  parser.add_argument('--model', default='fp_vggface')
  parser.add_argument('--image-size', type=int, default=224)
  parser.add_argument('--weights', default='', help='weights path inside the image')
  parser.add_argument('--seed', type=int, default=DEFAULT_SEED, help='training seed')
  parser.add_argument('--input-fingerprint', default='',
                      help='dataset version; change it to invalidate the ingest cache')
  parser.add_argument('--beam-arg', action='append', help='Beam option, e.g. --runner=DataflowRunner')
  parser.add_argument('--output-dir', default='.')
  options.add_gate_args(parser)
  args = parser.parse_args(argv)
  print(compile_pipeline(args))
  return 0


if __name__ == '__main__':
  sys.exit(main())
