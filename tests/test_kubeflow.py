"""Compile the pipeline for Kubeflow Pipelines V2 and check what a cluster would run.

No Kubeflow cluster exists here, so we stop at the compiled IR JSON: the same
create_pipeline, a GPU on the Trainer only, its own image, and no SQLite metadata.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_kubeflow_v2_json_puts_the_gpu_on_the_trainer(tmp_path):
  manifest = tmp_path / 'manifest.csv'
  manifest.write_text('path,subject_id,label,source\n')
  subprocess.run(
      [sys.executable, os.path.join(ROOT, 'kubeflow', 'kubeflow_v2_runner.py'),
       '--pipeline-root', 'gs://bucket/root', '--manifest', str(manifest),
       '--serving-dir', 'gs://bucket/serving', '--image', 'registry/palsy-tfx:1',
       '--gpu-image', 'registry/palsy-tfx-gpu:1', '--output-dir', str(tmp_path),
       '--beam-arg=--runner=DataflowRunner', '--numeric-labels', 'hb'],
      check=True, capture_output=True, text=True,
      env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2'})
  spec = json.loads((tmp_path / 'palsy-tfx.json').read_text())['pipelineSpec']
  executors = spec['deploymentSpec']['executors']
  tasks = set(spec['root']['dag']['tasks'])
  assert {'VideoIngest', 'StatisticsGen', 'ImportSchemaGen', 'ExampleValidator',
          'AnomalyGate', 'Trainer', 'Evaluator', 'Pusher', 'EvidenceReporter'} <= tasks
  trainer = executors['Trainer_executor']['container']
  assert trainer['resources']['accelerator'] == {'type': 'nvidia.com/gpu', 'count': '1'}
  assert trainer['image'] == 'registry/palsy-tfx-gpu:1'
  assert executors['VideoIngest_executor']['container']['image'] == 'registry/palsy-tfx:1'
  assert 'accelerator' not in executors['Evaluator_executor']['container'].get('resources', {})
  assert 'trainer.task.run_fn' in json.dumps(spec)
  ingest_params = spec['root']['dag']['tasks']['VideoIngest']['inputs']['parameters']
  assert ingest_params['numeric_labels'] == {
      'runtimeValue': {'constantValue': {'stringValue': 'hb'}}}
  assert 'sqlite' not in json.dumps(spec).lower()
  assert spec['pipelineInfo']['name'] == 'palsy-tfx'
