"""Reads the TF Serving deployment kit (kubeflow/serving/) and lists what does not fit.

No cluster and no TF Serving binary exist here, so the kit is checked as far as parsers go:
the YAML with PyYAML, models.config with TF Serving's own ModelServerConfig proto, and the
batching and monitoring configs with copies of their messages (tf_serving_config_protos).
models.config is not in the repository: ``generate`` copies the kit and writes it there with
``pipeline.serving_config`` from fake pushes, as ``palsy-tfx serving config`` would.
``problems`` cross-checks every value that appears in more than one place (ports, probe
routes, the model name, mount paths, config file names, the batch size the clients use), so
a value changed in one place only is reported.
"""
import dataclasses
import os
import shutil
from typing import Dict, List, Optional

import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import serving_config
from tests.tf_serving_config_protos import BatchingParameters, MonitoringConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIT = os.path.join(ROOT, 'kubeflow', 'serving')
GRPC_PORT, REST_PORT = 8500, 8501  # TF Serving's own defaults, which clients assume
CONFIG_FLAGS = {'model_config_file': serving_config.FILE_NAME,
                'batching_parameters_file': 'batching.config',
                'monitoring_config_file': 'monitoring.config'}


@dataclasses.dataclass
class Kit:
  folder: str
  deployment: dict
  service: dict
  kustomization: dict
  models: model_server_config_pb2.ModelServerConfig
  batching: BatchingParameters
  monitoring: MonitoringConfig


def push(serving_dir: str, *versions: int) -> None:
  """Version folders as the Pusher leaves them, with a ``saved_model.pb`` (not a real
  graph: only its presence counts)."""
  for version in versions:
    folder = os.path.join(serving_config.model_folder(serving_dir), str(version))
    os.makedirs(folder)
    with open(os.path.join(folder, serving_config.SAVED_MODEL_FILE), 'wb') as f:
      f.write(b'graph')


def generate(dest: str, serving_dir: str, stable: int, canary: Optional[int] = None) -> str:
  """A copy of the kit in ``dest`` with the models.config that ``serving_dir`` gives."""
  shutil.copytree(KIT, dest)
  with open(os.path.join(dest, serving_config.FILE_NAME), 'w') as f:
    f.write(serving_config.config_text(serving_dir, stable, canary))
  return dest


def _text_proto(folder: str, name: str, message):
  with open(os.path.join(folder, name)) as f:
    return text_format.Parse(f.read(), message)


def _yaml(folder: str, name: str) -> dict:
  with open(os.path.join(folder, name)) as f:
    docs = list(yaml.safe_load_all(f))
  assert len(docs) == 1, f'{name}: expected one YAML document, found {len(docs)}'
  return docs[0]


def load(folder: str) -> Kit:
  """The kit in ``folder``: a copy made by ``generate``, which has its models.config."""
  return Kit(folder, _yaml(folder, 'deployment.yaml'), _yaml(folder, 'service.yaml'),
             _yaml(folder, 'kustomization.yaml'),
             _text_proto(folder, serving_config.FILE_NAME,
                         model_server_config_pb2.ModelServerConfig()),
             _text_proto(folder, 'batching.config', BatchingParameters()),
             _text_proto(folder, 'monitoring.config', MonitoringConfig()))


def flags(container: dict) -> Dict[str, str]:
  """``--name=value`` arguments as {name: value}."""
  return dict(arg[2:].split('=', 1) for arg in container.get('args', []))


def _cpu_cores(quantity: str) -> float:
  return float(quantity[:-1]) / 1000 if str(quantity).endswith('m') else float(quantity)


def problems(kit: Kit, model_name: str, client_batch: int) -> List[str]:
  """Everything in ``kit`` that is missing, or that disagrees with another place, with TF
  Serving's ports, with the pipeline's ``model_name`` or with the clients' batch size."""
  out = []
  dep, svc = kit.deployment, kit.service

  def need(cond, message):
    if not cond:
      out.append(message)

  need(dep.get('apiVersion') == 'apps/v1' and dep.get('kind') == 'Deployment',
       'deployment.yaml: not an apps/v1 Deployment')
  need(svc.get('apiVersion') == 'v1' and svc.get('kind') == 'Service',
       'service.yaml: not a v1 Service')
  need(dep.get('metadata', {}).get('name') and svc.get('metadata', {}).get('name'),
       'metadata.name missing')
  template = dep['spec']['template']
  pod_labels = template['metadata'].get('labels', {})
  selector = dep['spec'].get('selector', {}).get('matchLabels', {})
  need(selector and selector.items() <= pod_labels.items(),
       f'Deployment selector {selector} does not match the pod labels {pod_labels}')
  need(svc['spec'].get('selector') and svc['spec']['selector'].items() <= pod_labels.items(),
       f"Service selector {svc['spec'].get('selector')} does not match the pod labels")

  containers = template['spec']['containers']
  need(len(containers) == 1, 'expected one container')
  container = containers[0]
  image = container.get('image', '')
  need(image.startswith('tensorflow/serving:') and not image.endswith(':latest'),
       f'image {image!r} is not a pinned tensorflow/serving tag')
  args = flags(container)
  ports = {p.get('name'): p.get('containerPort') for p in container.get('ports', [])}
  need(ports == {'grpc': GRPC_PORT, 'http': REST_PORT},
       f'container ports {ports}, expected grpc {GRPC_PORT} and http {REST_PORT}')
  need(args.get('port') == str(ports.get('grpc')),
       f"--port={args.get('port')} but the grpc container port is {ports.get('grpc')}")
  need(args.get('rest_api_port') == str(ports.get('http')),
       f"--rest_api_port={args.get('rest_api_port')} but the http container port is "
       f"{ports.get('http')}")

  def port_number(port):
    return ports.get(port) if isinstance(port, str) else port

  for sp in svc['spec'].get('ports', []):
    target = port_number(sp.get('targetPort', sp.get('port')))
    need(target in ports.values(),
         f"Service port {sp.get('name')}: targetPort {sp.get('targetPort')} is no container port")
    need(sp.get('port') == target,
         f"Service port {sp.get('name')} is {sp.get('port')}, its container port {target}")
  need({sp.get('port') for sp in svc['spec'].get('ports', [])} == {GRPC_PORT, REST_PORT},
       'the Service does not expose both 8500 and 8501')

  route = f'/v1/models/{model_name}'
  for kind in ('startupProbe', 'readinessProbe', 'livenessProbe'):
    probe = container.get(kind, {})
    action = probe.get('httpGet') or probe.get('tcpSocket') or {}
    need(port_number(action.get('port')) == REST_PORT,
         f'{kind} port {action.get("port")} is not the REST port {REST_PORT}')
    if kind != 'livenessProbe':
      need(probe.get('httpGet', {}).get('path') == route,
           f'{kind} does not GET the model status route {route}')

  mounts = {m['name']: m for m in container.get('volumeMounts', [])}
  volumes = {v['name']: v for v in template['spec'].get('volumes', [])}
  need(set(mounts) == set(volumes), f'mounts {sorted(mounts)} vs volumes {sorted(volumes)}')
  models_volume = volumes.get('models', {})
  need('persistentVolumeClaim' in models_volume and mounts.get('models', {}).get('readOnly'),
       'the models volume is not a claim mounted read-only')
  generators = {g['name']: g for g in kit.kustomization.get('configMapGenerator', [])}
  config_map = volumes.get('config', {}).get('configMap', {}).get('name')
  need(config_map in generators,
       f'the config volume names ConfigMap {config_map!r}, kustomization makes '
       f'{sorted(generators)}')
  need(set(kit.kustomization.get('resources', [])) == {'deployment.yaml', 'service.yaml'},
       'kustomization resources are not deployment.yaml and service.yaml')
  generated = set(generators.get(config_map, {}).get('files', []))
  need(generated == set(CONFIG_FLAGS.values()),
       f'the ConfigMap holds {sorted(generated)}, expected {sorted(CONFIG_FLAGS.values())}')
  for name in generated:
    need(os.path.exists(os.path.join(kit.folder, name)), f'{name} is not in {kit.folder}')
  config_dir = mounts.get('config', {}).get('mountPath', '')
  for flag, name in CONFIG_FLAGS.items():
    need(args.get(flag) == f'{config_dir}/{name}',
         f'--{flag}={args.get(flag)}, but {name} is mounted at {config_dir}/{name}')
  need(args.get('enable_batching') == 'true', '--batching_parameters_file needs '
       '--enable_batching=true')

  configs = kit.models.model_config_list.config
  need(len(configs) == 1 and configs[0].name == model_name,
       f'models.config does not serve exactly the model {model_name!r}')
  if configs:
    config = configs[0]
    models_dir = mounts.get('models', {}).get('mountPath', '')
    need(config.base_path == f'{models_dir}/{model_name}',
         f'base_path {config.base_path} is not the models mount {models_dir}/{model_name}')
    need(config.model_platform == 'tensorflow', 'model_platform is not tensorflow')
    policy = config.model_version_policy
    need(policy.WhichOneof('policy_choice') == 'specific',
         'labelled versions need the specific version policy')
    need({'stable', 'canary'} <= set(config.version_labels), 'no stable and canary labels')
    for label, version in config.version_labels.items():
      need(version in policy.specific.versions,
           f'label {label} points to version {version}, which the policy does not load')

  need(kit.batching.max_batch_size.value == client_batch,
       f'batching max_batch_size {kit.batching.max_batch_size.value}, but the clients send '
       f'{client_batch} crops a request')
  cores = _cpu_cores(container.get('resources', {}).get('limits', {}).get('cpu', '0'))
  need(cores > 0 and container['resources'].get('requests', {}).get('memory'),
       'no CPU limit or memory request')
  need(0 < kit.batching.num_batch_threads.value <= cores,
       f'{kit.batching.num_batch_threads.value} batch threads for a {cores}-core limit')
  for flag in ('tensorflow_intra_op_parallelism', 'tensorflow_inter_op_parallelism'):
    need(args.get(flag) == str(int(cores)), f'--{flag}={args.get(flag)}, CPU limit {cores}')

  prometheus = kit.monitoring.prometheus_config
  notes = template['metadata'].get('annotations', {})
  need(prometheus.enable, 'Prometheus metrics are off')
  need(notes.get('prometheus.io/scrape') == 'true', 'the pod is not annotated for scraping')
  need(notes.get('prometheus.io/path') == prometheus.path,
       f"annotated metrics path {notes.get('prometheus.io/path')} is not {prometheus.path}")
  need(notes.get('prometheus.io/port') == str(REST_PORT),
       f"annotated metrics port {notes.get('prometheus.io/port')} is not {REST_PORT}")
  return out
