"""Compile the pipeline for Kubeflow Pipelines V2 and check the package with Kubeflow's
own code: kfp's PipelineSpec, PlatformSpec and PipelineJob protos, kfp-kubernetes's
KubernetesExecutorConfig, and the reader ``kfp.Client`` uses.

No Kubeflow cluster exists here, so we stop at the compiled package: every option set
on the command line is checked at its place by value, the pseudonym key is a Secret's
name only, and the compiler never reads media.
"""
import json
import os
import subprocess
import sys

import pytest
import yaml
from google.protobuf import json_format
from kfp.client import client as kfp_client
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from components.video_ingest import limits
from pipeline.cli import main as cli
from pipeline.cli import kubeflow as kubeflow_cli
from preprocessing import contract

pytestmark = pytest.mark.slow  # compiles Kubeflow packages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Known key values in the compiler's environment: neither may reach the package.
SECRET_KEY = 'k3y-that-must-never-be-compiled-7f1e'
SECRET_FILE_KEY = 'file-key-that-must-never-be-compiled-91c2'
FINGERPRINT = 'cohort-2024-06-01'
BEAM_ARGS = ['--runner=DataflowRunner', '--project=palsy-proj', '--region=europe-west4']


def _options(manifest, output, *extra):
  """Every option away from its default, with values checked below."""
  return ['--manifest', str(manifest), '--numeric-labels', 'hb',
          '--source-fps', '{"meei": 2.5, "yfp": 5}', '--split-ratios', '0.6', '0.25', '0.15',
          '--ingest-image-size', '160', '--alignment', 'five_point', '--infer-schema',
          '--model', 'dlib_resnet', '--weights', '/models/dlib.dat', '--image-size', '150',
          '--train-steps', '1234', '--learning-rate', '0.0005', '--epochs', '7',
          '--dropout', '0.2', '--head', 'asymmetry', '--batch-size', '12',
          '--trainable-layers', '3', '--seed', '7', '--mixed-precision', 'off',
          '--jit-compile', 'on',
          '--model-name', 'palsy-hb', '--serving-dir', 'gs://bucket/serving',
          '--max-p99-ms', '800', '9000',
          '--min-accuracy', '0.55', '--min-class-recall', '0.1', '0.2', '0.3', '0.4', '0.5',
          '0.6', '--min-subject-balanced-accuracy', '0.45', '--min-subject-within-one', '0.85',
          '--min-subject-class-recall', '0.35', '--regression-tolerance', '0.02',
          '--max-ece', '0.08',
          *[f'--beam-arg={a}' for a in BEAM_ARGS],
          '--pipeline-root', 'gs://bucket/root', '--image', 'registry/palsy-tfx:1',
          '--gpu-image', 'registry/palsy-tfx-gpu:1', '--gpus', '2', '--trainer-cpu', '6',
          '--trainer-memory-gb', '24', '--output', str(output), *extra]


def _manifest(folder):
  """A local manifest whose media are not on this machine (as on a shared volume that
  only the cluster mounts): grades normal (HB-1) and moderate (HB-4)."""
  path = folder / 'manifest.csv'
  path.write_text('path,subject_id,label,source\nvideos/a.mp4,s1,HB-1,yfp\n'
                  'videos/b.mp4,s2,4,meei\n')
  return path


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  """The runner script, run as a user would, with the key in its environment."""
  folder = tmp_path_factory.mktemp('kubeflow')
  manifest = _manifest(folder)
  key_file = folder / 'key'
  key_file.write_text(SECRET_FILE_KEY)
  output = folder / 'out' / 'palsy-tfx.yaml'
  subprocess.run(
      [sys.executable, os.path.join(ROOT, 'kubeflow', 'kubeflow_v2_runner.py'),
       *_options(manifest, output, '--input-fingerprint', FINGERPRINT)],
      check=True, capture_output=True, text=True, timeout=600,
      env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'PALSY_PSEUDONYM_KEY': SECRET_KEY,
           'PALSY_PSEUDONYM_KEY_FILE': str(key_file)})
  text = output.read_text()
  spec_doc, platform_doc = yaml.safe_load_all(text)
  return {'path': str(output), 'text': text, 'manifest': str(manifest),
          'spec': spec_doc, 'platform': platform_doc}


def _tasks(compiled):
  return compiled['spec']['root']['dag']['tasks']


def _params(compiled, task):
  """A task's constant parameters as Python values."""
  out = {}
  for name, value in _tasks(compiled)[task]['inputs']['parameters'].items():
    [(kind, v)] = value['runtimeValue']['constantValue'].items()
    out[name] = int(v) if kind == 'intValue' else v
  return out


def _executors(compiled):
  return compiled['spec']['deploymentSpec']['executors']


def test_the_package_parses_strictly_into_kubeflows_protos(compiled):
  # No ignore_unknown_fields: a field Kubeflow does not know fails here.
  spec = json_format.Parse(json.dumps(compiled['spec']), pipeline_spec_pb2.PipelineSpec())
  assert spec.pipeline_info.name == 'palsy-tfx'
  assert spec.default_pipeline_root == 'gs://bucket/root'
  platform = json_format.Parse(json.dumps(compiled['platform']),
                               pipeline_spec_pb2.PlatformSpec())
  assert list(platform.platforms) == ['kubernetes']
  # What kfp.Client reads from a package when it starts a run from it.
  doc = kfp_client._extract_pipeline_yaml(compiled['path'])  # pylint: disable=protected-access
  assert doc.pipeline_spec == spec and doc.platform_spec == platform
  assert {'VideoIngest', 'StatisticsGen', 'SchemaGen', 'ExampleValidator', 'AnomalyGate',
          'Trainer', 'latest_blessed_model_resolver-model-resolver',
          'latest_blessed_model_resolver-model-blessing-resolver', 'Evaluator',
          'ModelCardWriter', 'ServingCheck', 'Pusher', 'EvidenceReporter'} == set(
              spec.root.dag.tasks)


def test_tfxs_pipeline_job_parses_strictly_into_kubeflows_pipeline_job(tmp_path):
  from pipeline.runners import kubeflow as kubeflow_runner  # pylint: disable=g-import-not-at-top
  args = cli.build_parser().parse_args(
      ['kubeflow', 'compile', *_options('gs://bucket/data/manifest.csv', tmp_path / 'p.yaml',
                                        '--input-fingerprint', FINGERPRINT, '--grades',
                                        'normal', 'moderate')])
  job = kubeflow_runner.compile_job(**kubeflow_cli.options_from_args(args))
  parsed = json_format.Parse(json.dumps(job), pipeline_spec_pb2.PipelineJob())
  assert parsed.display_name == 'palsy-tfx'
  assert parsed.runtime_config.gcs_output_directory == 'gs://bucket/root'
  assert not parsed.runtime_config.parameter_values  # nothing lost by unwrapping the spec


def test_the_trainer_alone_gets_the_gpus_and_the_gpu_image(compiled):
  executors = _executors(compiled)
  trainer = executors['Trainer_executor']['container']
  assert trainer['resources'] == {'accelerator': {'type': 'nvidia.com/gpu', 'count': '2'},
                                  'cpuLimit': 6.0, 'memoryLimit': 24.0}
  assert trainer['image'] == 'registry/palsy-tfx-gpu:1'
  others = {name: e['container'] for name, e in executors.items()
            if name != 'Trainer_executor' and 'container' in e}
  assert len(others) == 10  # every component but the Trainer; the resolver is no container
  assert {c['image'] for c in others.values()} == {'registry/palsy-tfx:1'}
  assert [name for name, c in others.items() if 'resources' in c] == []


def test_a_trainer_that_requests_gpus_must_have_one(compiled, tmp_path):
  """With GPUs requested, the Trainer's container carries PALSY_REQUIRE_GPU=1 (it stops
  when TensorFlow sees none) whatever its image; with --gpus 0 it trains on the CPU."""
  trainer = _executors(compiled)['Trainer_executor']['container']
  assert trainer['env'] == [{'name': 'PALSY_REQUIRE_GPU', 'value': '1'}]
  others = [e['container'] for name, e in _executors(compiled).items()
            if name != 'Trainer_executor' and 'container' in e]
  assert all('env' not in c for c in others)
  from pipeline.runners import kubeflow as kubeflow_runner  # pylint: disable=g-import-not-at-top
  args = cli.build_parser().parse_args(
      ['kubeflow', 'compile', '--manifest', 'gs://bucket/data/manifest.csv',
       '--input-fingerprint', FINGERPRINT, '--grades', 'normal', '--model', 'demo',
       '--serving-dir', 'gs://bucket/serving', '--pipeline-root', 'gs://bucket/root',
       '--image', 'registry/palsy-tfx:1', '--gpus', '0', '--output', str(tmp_path / 'p.yaml')])
  job = kubeflow_runner.compile_job(**kubeflow_cli.options_from_args(args))
  trainer = job['pipelineSpec']['deploymentSpec']['executors']['Trainer_executor']['container']
  assert 'env' not in trainer and 'accelerator' not in trainer.get('resources', {})


def test_with_tune_the_package_has_the_tuner_with_its_resources_before_the_trainer(
    compiled, tmp_path):
  """--tune puts TFX's Tuner in the package: on the GPU image with the Trainer's resources
  and GPU requirement, searching on the eval split; the Trainer takes its best values, the
  card and the report its trials. Without --tune (the fixture's package) there is none."""
  from pipeline.runners import kubeflow as kubeflow_runner  # pylint: disable=g-import-not-at-top
  args = cli.build_parser().parse_args(
      ['kubeflow', 'compile', '--manifest', 'gs://bucket/data/manifest.csv',
       '--input-fingerprint', FINGERPRINT, '--grades', 'normal', '--model', 'dlib_resnet',
       '--train-steps', '1234', '--epochs', '7', '--serving-dir', 'gs://bucket/serving',
       '--pipeline-root', 'gs://bucket/root', '--image', 'registry/palsy-tfx:1',
       '--gpu-image', 'registry/palsy-tfx-gpu:1', '--gpus', '2', '--trainer-cpu', '6',
       '--trainer-memory-gb', '24', '--output', str(tmp_path / 'p.yaml'),
       '--tune', '--tune-trials', '3', '--tune-learning-rate', '0.0001', '0.001'])
  package = {'spec': kubeflow_runner.compile_job(
      **kubeflow_cli.options_from_args(args))['pipelineSpec']}
  tuner = _params(package, 'Tuner')
  assert tuner['tuner_fn'] == 'trainer.tuner.tuner_fn'
  assert json.loads(tuner['eval_args']) == {'splits': ['eval']}
  assert json.loads(tuner['train_args']) == {'splits': ['train'], 'num_steps': 1234}
  assert json.loads(tuner['custom_config'])['tune'] == {
      'space': {'learning_rate': [0.0001, 0.001], 'trainable_layers': [0, 3],
                'dropout': [0.3, 0.5]},
      'algorithm': 'grid', 'trials': 3, 'epochs': 7, 'objective': 'val_loss', 'split': 'eval'}
  tasks = _tasks(package)
  assert tasks['Trainer']['inputs']['artifacts']['hyperparameters']['taskOutputArtifact'] == {
      'producerTask': 'Tuner', 'outputArtifactKey': 'best_hyperparameters'}
  for name in ('ModelCardWriter', 'EvidenceReporter'):
    assert tasks[name]['inputs']['artifacts']['tuner_results']['taskOutputArtifact'] == {
        'producerTask': 'Tuner', 'outputArtifactKey': 'tuner_results'}, name
  executors = _executors(package)
  container = executors['Tuner_executor']['container']
  assert container['resources'] == executors['Trainer_executor']['container']['resources'] == {
      'accelerator': {'type': 'nvidia.com/gpu', 'count': '2'}, 'cpuLimit': 6.0,
      'memoryLimit': 24.0}
  assert container['image'] == 'registry/palsy-tfx-gpu:1'
  assert container['env'] == [{'name': 'PALSY_REQUIRE_GPU', 'value': '1'}]
  assert 'Tuner' not in _tasks(compiled)
  assert 'hyperparameters' not in _tasks(compiled)['Trainer']['inputs']['artifacts']


def test_every_component_gets_the_beam_arguments(compiled):
  # TFX hands the pipeline's Beam options to every container; the Beam components
  # (VideoIngest, StatisticsGen, the Evaluator, ...) build their Beam pipelines from them.
  containers = {name: e['container'] for name, e in _executors(compiled).items()
                if 'container' in e}
  assert len(containers) == 11
  for name, container in containers.items():
    assert container['args'][-len(BEAM_ARGS):] == BEAM_ARGS, name


def test_the_data_options_reach_ingest(compiled):
  params = _params(compiled, 'VideoIngest')
  assert params == {
      'manifest': compiled['manifest'], 'input_fingerprint': FINGERPRINT,
      'numeric_labels': 'hb', 'source_fps': '{"meei": 2.5, "yfp": 5.0}',
      'split_ratios': '[0.6, 0.25, 0.15]', 'image_size': 160, 'alignment': 'five_point',
      'split_by': 'subject', 'default_fps': 3.0, 'margin': 0.25, 'detect_width': 640,
      'media_limits': limits.MediaLimits().to_json(),
      'segment_seconds': limits.DEFAULT_SEGMENT_S,
      'example_contract': contract.features_fingerprint()}
  assert 'ImportSchemaGen' not in _tasks(compiled)  # --infer-schema: SchemaGen instead


def test_the_model_options_reach_the_trainer(compiled):
  params = _params(compiled, 'Trainer')
  assert json.loads(params['custom_config']) == {
      'preset': 'dlib_resnet', 'weights': '/models/dlib.dat', 'image_size': 150, 'seed': 7,
      'mixed_precision': 'off', 'jit_compile': 'on',
      'overrides': {'learning_rate': 0.0005, 'epochs': 7, 'dropout': 0.2, 'head': 'asymmetry',
                    'batch_size': 12, 'trainable_layers': 3}}
  assert json.loads(params['train_args']) == {'splits': ['train'], 'num_steps': 1234}
  assert params['run_fn'] == 'trainer.task.run_fn'


def test_the_serving_options_reach_the_card_and_the_pusher(compiled):
  assert _params(compiled, 'ModelCardWriter')['model_name'] == 'palsy-hb'
  destination = json.loads(_params(compiled, 'Pusher')['push_destination'])
  assert destination == {'filesystem': {'base_directory': 'gs://bucket/serving/palsy-hb'}}


def test_the_pusher_takes_the_serving_checks_infra_blessing(compiled):
  """The ServingCheck is in the package between the Evaluator and the Pusher, with the
  latency limits given, and the Pusher's ``infra_blessing`` is its output."""
  tasks = _tasks(compiled)
  check_inputs = tasks['ServingCheck']['inputs']['artifacts']
  assert check_inputs['model']['taskOutputArtifact'] == {'producerTask': 'Trainer',
                                                         'outputArtifactKey': 'model'}
  assert check_inputs['model_blessing']['taskOutputArtifact'] == {
      'producerTask': 'Evaluator', 'outputArtifactKey': 'blessing'}
  params = _params(compiled, 'ServingCheck')
  assert (params['max_p99_ms_batch_1'], params['max_p99_ms_batch_32']) == (800, 9000)
  assert params['tolerance'] == 1e-5 and params['latency_requests'] == 50
  assert tasks['Pusher']['inputs']['artifacts']['infra_blessing']['taskOutputArtifact'] == {
      'producerTask': 'ServingCheck', 'outputArtifactKey': 'blessing'}
  assert 'ServingCheck' in tasks['Pusher']['dependentTasks']
  executor = _executors(compiled)['ServingCheck_executor']['container']
  assert 'components.serving_check.executor.Executor' in ' '.join(executor['args'])


def _thresholds(eval_config):
  """(metric, grade or None) -> (value floor, value ceiling, allowed drop) of every gated
  metric."""
  out = {}
  for spec in eval_config['metrics_specs']:
    grade = spec.get('binarize', {}).get('class_ids', {}).get('values', [None])[0]
    for metric in spec['metrics']:
      for per_slice in metric.get('per_slice_thresholds', []):
        assert per_slice['slicing_specs'] == [{}]  # the overall slice
        threshold = per_slice['threshold']
        name = metric['class_name'] + ' ' + metric.get('config', '').replace('"', '')
        out[(name.strip(), grade)] = (
            threshold.get('value_threshold', {}).get('lower_bound'),
            threshold.get('value_threshold', {}).get('upper_bound'),
            threshold.get('change_threshold', {}).get('absolute'))
  return out


def test_every_gate_reaches_the_evaluator(compiled):
  eval_config = json.loads(_params(compiled, 'Evaluator')['eval_config'])
  # The manifest holds normal (HB-1) and moderate (bare 4 on the hb scale): only those
  # two grades get per-grade gates, with their own floors of --min-class-recall.
  assert _thresholds(eval_config) == {
      ('SparseCategoricalAccuracy', None): (0.55, None, -0.02),
      ('GradingMetric level: frame, measure: ece', None): (None, 0.08, None),
      ('GradingMetric level: subject, measure: within_one_accuracy', None): (0.85, None, None),
      ('GradingMetric level: subject, measure: balanced_accuracy', None): (0.45, None, -0.02),
      ('GradingMetric level: frame, measure: recall', 0): (0.1, None, None),
      ('GradingMetric level: subject, measure: recall', 0): (0.35, None, None),
      ('GradingMetric level: frame, measure: recall', 3): (0.4, None, None),
      ('GradingMetric level: subject, measure: recall', 3): (0.35, None, None),
  }


def test_the_key_comes_from_the_secret_and_is_nowhere_in_the_package(compiled):
  executors = compiled['platform']['platforms']['kubernetes']['deploymentSpec']['executors']
  assert list(executors) == ['VideoIngest_executor']
  config = json_format.Parse(json.dumps(executors['VideoIngest_executor']),
                             kubernetes_executor_config_pb2.KubernetesExecutorConfig())
  [secret] = config.secret_as_env
  assert secret.secret_name == 'palsy-pseudonym-key'
  assert [(m.secret_key, m.env_var) for m in secret.key_to_env] == [('key',
                                                                      'PALSY_PSEUDONYM_KEY')]
  for known in (SECRET_KEY, SECRET_FILE_KEY):
    assert known not in compiled['text']
  assert 'sqlite' not in compiled['text'].lower()


def test_no_salt_is_compiled(compiled):
  assert 'salt' not in compiled['text']


def test_the_media_are_never_read_at_compile_time(compiled):
  # The fixture's package compiled from a manifest whose media do not exist here.
  base = os.path.dirname(compiled['manifest'])
  assert not os.path.exists(os.path.join(base, 'videos'))
  assert _params(compiled, 'VideoIngest')['input_fingerprint'] == FINGERPRINT


def _compile(argv, capsys):
  code = cli.main(['kubeflow', 'compile', *argv])
  return code, capsys.readouterr()


def test_a_remote_manifest_needs_an_explicit_fingerprint(tmp_path, capsys):
  code, out = _compile(_options('gs://bucket/data/manifest.csv', tmp_path / 'p.yaml'), capsys)
  assert code == 2
  assert ('error: --manifest gs://bucket/data/manifest.csv is remote: the compiler never '
          'reads media') in out.err
  assert '--input-fingerprint' in out.err
  assert not (tmp_path / 'p.yaml').exists()


def test_a_local_manifest_without_its_media_needs_an_explicit_fingerprint(tmp_path, capsys):
  manifest = _manifest(tmp_path)
  code, out = _compile(_options(manifest, tmp_path / 'p.yaml'), capsys)
  assert code == 2
  assert (f'names 2 media file(s) not on this machine (first: '
          f'{tmp_path}/videos/a.mp4)') in out.err
  assert '--input-fingerprint' in out.err


def test_a_remote_manifest_compiles_with_fingerprint_and_grades_without_any_reading(
    tmp_path, capsys):
  """Nothing under gs:// is reachable here: the compile reads neither the manifest
  (--grades) nor media (--input-fingerprint)."""
  code, out = _compile(_options('gs://bucket/data/manifest.csv', tmp_path / 'p.yaml',
                                '--input-fingerprint', FINGERPRINT, '--grades', 'HB-2'),
                       capsys)
  assert code == 0, out.err
  assert out.out.strip() == str(tmp_path / 'p.yaml')
  spec = next(yaml.safe_load_all((tmp_path / 'p.yaml').read_text()))
  eval_config = json.loads(spec['root']['dag']['tasks']['Evaluator']['inputs']['parameters'][
      'eval_config']['runtimeValue']['constantValue']['stringValue'])
  assert {grade for _, grade in _thresholds(eval_config)} == {None, 1}


@pytest.mark.parametrize('flags,message', [
    (['--output', 'p.json'], '--output must end with .yaml'),
    (['--source-fps', '{"meei": 0}'], '--source-fps must be a JSON object of positive'),
    (['--grades', 'HB-9'], "--grades: label 'HB-9' is out of range"),
    (['--min-class-recall', '0.1', '0.2'], '--min-class-recall takes 1 or 6 values'),
    (['--head', 'asymmetry', '--backbone', 'vgg16'], "head 'asymmetry' reads dlib_resnet"),
])
def test_bad_options_fail_before_compiling_and_name_the_option(tmp_path, capsys, flags,
                                                               message):
  argv = _options('gs://bucket/m.csv', tmp_path / 'p.yaml', '--input-fingerprint', 'f')
  code, out = _compile(argv + flags, capsys)
  assert code == 2
  assert message in out.err


def test_a_package_compiled_from_a_copy_elsewhere_names_no_path_of_that_copy(tmp_path):
  """Compiled as a user would from a checkout in some folder, with the default options
  (the curated schema, not --infer-schema): the package must run in the image, so it may
  not name that folder; the schema it names must be where the image puts the code."""
  import fnmatch  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  from dockerfile_parse import DockerfileParser  # pylint: disable=g-import-not-at-top
  from components import curated_schema  # pylint: disable=g-import-not-at-top
  copy = tmp_path / 'somewhere' / 'palsy-checkout'
  shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
      '.git', '.venv', '.tools', 'runs', 'data', '__pycache__', '*.egg-info', '.pytest_cache'))
  output = tmp_path / 'p.yaml'
  subprocess.run(
      [sys.executable, str(copy / 'kubeflow' / 'kubeflow_v2_runner.py'),
       '--manifest', 'gs://bucket/data/manifest.csv', '--input-fingerprint', FINGERPRINT,
       '--grades', 'normal', 'severe', '--pipeline-root', 'gs://bucket/root',
       '--image', 'registry/palsy-tfx:1', '--gpu-image', 'registry/palsy-tfx-gpu:1',
       '--serving-dir', 'gs://bucket/serving', '--output', str(output)],
      check=True, capture_output=True, text=True, timeout=600, cwd=str(tmp_path),
      env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2'})
  text = output.read_text()
  assert str(copy) not in text and str(tmp_path) not in text
  # The schema the package names, resolved where the image installs the code.
  [schema] = {v for v in _all_strings(yaml.safe_load_all(text)) if v.endswith('.pbtxt')}
  assert not os.path.isabs(schema)
  dockerfile = DockerfileParser(os.path.join(ROOT, 'kubeflow', 'docker', 'pipeline.Dockerfile'))
  steps = [(i['instruction'], i['value']) for i in dockerfile.structure]
  workdir = [v for k, v in steps if k == 'WORKDIR'][-1]
  assert ('COPY', '. .') in steps  # the whole build context lands in WORKDIR
  assert curated_schema.resolve(schema, workdir) == f'{workdir}/{schema}'
  with open(os.path.join(ROOT, '.dockerignore')) as f:
    ignored = [line.strip() for line in f if line.strip() and not line.startswith('#')]
  assert not any(fnmatch.fnmatch(schema, pattern) or schema.startswith(pattern + '/')
                 for pattern in ignored)
  assert os.path.isfile(os.path.join(copy, schema))


def _all_strings(node):
  if isinstance(node, str):
    yield node
  elif isinstance(node, dict):
    for value in node.values():
      yield from _all_strings(value)
  elif isinstance(node, (list, tuple)) or hasattr(node, '__next__'):
    for value in node:
      yield from _all_strings(value)
