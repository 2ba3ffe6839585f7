"""The TF Serving deployment kit (kubeflow/serving/): well-formed, complete, and every value
that appears in two places the same in both. No cluster or TF Serving binary exists here, so
this is as far as parsers go (tests/serving_kit.py). The kit's models.config is generated,
here from two fake pushes, as `palsy-tfx serving config` writes it (tests/test_serving_config.py).
"""
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline.cli import main as cli
from pipeline.predict import tf_serving
from tests import serving_kit


def _model_name():
  """The TF Serving model name that ``palsy-tfx run`` pushes under by default."""
  args = cli.build_parser().parse_args(['run', '--manifest', 'm', '--pipeline-root', 'r'])
  return args.model_name


STABLE, CANARY = 1732000000, 1732600000


@pytest.fixture
def kit_dir(tmp_path):
  """A copy of the kit, its models.config generated for a stable and a canary push."""
  serving_dir = str(tmp_path / 'serving')
  serving_kit.push(serving_dir, STABLE, CANARY)
  return serving_kit.generate(str(tmp_path / 'kit'), serving_dir, STABLE, CANARY)


def _problems(kit):
  return serving_kit.problems(kit, _model_name(), tf_serving.MAX_BATCH)


def test_the_kit_fits_together(kit_dir):
  assert _problems(serving_kit.load(kit_dir)) == []


def _container(kit):
  return kit.deployment['spec']['template']['spec']['containers'][0]


def _set_arg(kit, flag, value):
  args = _container(kit)['args']
  args[[a.split('=')[0] for a in args].index(flag)] = f'{flag}={value}'


def _probe(kind):
  return lambda kit: _container(kit)[kind]['httpGet'].update(path='/v1/models/palsy2')


# One value changed in one place, and (part of) the problem that must be reported.
CHANGES = {
    'service port': (lambda kit: kit.service['spec']['ports'][1].update(port=8502),
                     'Service port http is 8502'),
    'container port': (lambda kit: _container(kit)['ports'][0].update(containerPort=9000),
                       'container ports'),
    'rest flag': (lambda kit: _set_arg(kit, '--rest_api_port', 9001), '--rest_api_port=9001'),
    'grpc flag': (lambda kit: _set_arg(kit, '--port', 9000), '--port=9000'),
    'service target': (lambda kit: kit.service['spec']['ports'][0].update(targetPort='rpc'),
                       'targetPort rpc is no container port'),
    'readiness route': (_probe('readinessProbe'), 'readinessProbe does not GET'),
    'startup route': (_probe('startupProbe'), 'startupProbe does not GET'),
    'liveness port': (lambda kit: _container(kit)['livenessProbe']['tcpSocket'].update(port=8500),
                      'livenessProbe port 8500'),
    'model name': (lambda kit: setattr(kit.models.model_config_list.config[0], 'name', 'model'),
                   "exactly the model 'palsy'"),
    'base path': (lambda kit: setattr(kit.models.model_config_list.config[0], 'base_path',
                                      '/mnt/palsy'), 'is not the models mount /models/palsy'),
    'models mount': (lambda kit: _container(kit)['volumeMounts'][0].update(mountPath='/srv'),
                     'is not the models mount /srv/palsy'),
    'label version': (lambda kit: kit.models.model_config_list.config[0].version_labels.update(
        canary=7), 'label canary points to version 7'),
    'config file': (lambda kit: _set_arg(kit, '--batching_parameters_file', '/config/b.config'),
                    '--batching_parameters_file=/config/b.config'),
    'config map': (lambda kit: kit.kustomization['configMapGenerator'][0].update(name='cfg'),
                   "names ConfigMap 'palsy-serving-config'"),
    'selector': (lambda kit: kit.service['spec'].update(selector={'app': 'other'}),
                 'Service selector'),
    'batch size': (lambda kit: kit.batching.max_batch_size.__setattr__('value', 64),
                   'batching max_batch_size 64, but the clients send 32'),
    'metrics path': (lambda kit: kit.monitoring.prometheus_config.__setattr__('path', '/metrics'),
                     'annotated metrics path'),
    'image tag': (lambda kit: _container(kit).update(image='tensorflow/serving:latest'),
                  'not a pinned tensorflow/serving tag'),
}


@pytest.mark.parametrize('change', sorted(CHANGES))
def test_a_value_changed_in_one_place_is_reported(kit_dir, change):
  kit = serving_kit.load(kit_dir)
  mutate, expected = CHANGES[change]
  mutate(kit)
  found = _problems(kit)
  assert any(expected in problem for problem in found), found


def test_models_config_is_read_with_tf_servings_own_proto(kit_dir):
  with open(f'{kit_dir}/models.config') as f:
    text = f.read()
  config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
  assert config.model_config_list.config[0].model_version_policy.specific.versions
  with pytest.raises(text_format.ParseError, match='base_dir'):
    text_format.Parse(text.replace('base_path', 'base_dir'),
                      model_server_config_pb2.ModelServerConfig())
