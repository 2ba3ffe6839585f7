"""TF Serving's ``models.config``, written from the versions that the Pusher left in a
serving directory, never pinned by hand.

A version named in the config that TF Serving cannot load is found by no parser: the pod
simply never turns ready (its startup probe gives up after 5 minutes) and the rollout
stalls. So the versions are read from ``SERVING_DIR/palsy/`` and a label is given only to
one that is there with its ``saved_model.pb``, the file whose arrival tells TF Serving that
a pushed version is complete (``components/model_card/pusher.py``).

The text is TF Serving's own ``ModelServerConfig`` message (tensorflow-serving-api), so it
is what the server parses. ``palsy-tfx serving config`` writes it into the kit
(``kubeflow/serving/``), whose kustomization puts it in the ConfigMap.
"""
import os
import re
from typing import List, Optional

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline.options import DEFAULT_MODEL_NAME
from preprocessing import storage

FILE_NAME = 'models.config'  # the kit's kustomization.yaml and deployment.yaml name it
# The Deployment mounts SERVING_DIR here (kubeflow/serving/deployment.yaml).
MODELS_MOUNT = '/models'
# tf.saved_model's SAVED_MODEL_FILENAME_PB, named here to spare importing TensorFlow.
SAVED_MODEL_FILE = 'saved_model.pb'
# TF Serving takes a folder of decimal digits for a version; it skips every other name.
_VERSION = re.compile(r'[0-9]+', re.ASCII)

HEADER = """\
# TF Serving's ModelServerConfig (tensorflow_serving/config/model_server_config.proto), read
# with --model_config_file. Generated: do not edit. `palsy-tfx serving config --serving-dir
# SERVING_DIR --stable V [--canary V]` writes it from the versions under SERVING_DIR/palsy/
# (the Pusher's <unix-time>/ folders) and refuses one that is not there; then
# `kubectl apply -k kubeflow/serving` (docs/predict-and-serve.md, "Serving with TF Serving").
#
# One or two versions stay loaded: `stable`, which clients ask for by label, and `canary`, the
# newer push under trial; without a canary the stable version carries both labels. A
# request that names neither a version nor a label gets the highest version loaded, which
# is the canary. TF Serving assigns a label only to a version it has loaded, and loads these
# before it opens its ports.
"""


def model_folder(serving_dir: str) -> str:
  """Where the Pusher writes the versions of the model the kit serves."""
  return os.path.join(serving_dir, DEFAULT_MODEL_NAME)


def versions(serving_dir: str) -> List[int]:
  """The complete versions under ``SERVING_DIR/palsy/``, oldest first: the folders named
  by a number that hold a ``saved_model.pb``."""
  if storage.is_remote(serving_dir):
    raise ValueError(f'--serving-dir {serving_dir}: give the local folder (the volume that '
                     'the Deployment mounts at /models); a bucket is not read here')
  folder = model_folder(serving_dir)
  if not os.path.isdir(folder):
    raise ValueError(f'no folder {folder}: nothing was pushed to --serving-dir {serving_dir} '
                     f'under the model name {DEFAULT_MODEL_NAME}')
  return sorted(int(name) for name in os.listdir(folder)
                if _VERSION.fullmatch(name)
                and os.path.isfile(os.path.join(folder, name, SAVED_MODEL_FILE)))


def _check(serving_dir: str, flag: str, version: int, found: List[int]) -> None:
  if version in found:
    return
  path = os.path.join(model_folder(serving_dir), str(version))
  why = (f'has no {SAVED_MODEL_FILE} (an incomplete push?)' if os.path.isdir(path)
         else 'does not exist')
  raise ValueError(f'{flag} {version}: {path} {why}; the versions in '
                   f'{model_folder(serving_dir)} are {", ".join(map(str, found)) or "none"}')


def build(stable: int, canary: Optional[int] = None
          ) -> model_server_config_pb2.ModelServerConfig:
  """The config that loads ``stable`` and ``canary`` (default: ``stable``) and labels
  them. A canary older than the stable version is refused: the requests that name no
  label would get the stable version, not the one on trial."""
  canary = stable if canary is None else canary
  if canary < stable:
    raise ValueError(f'--canary {canary} is older than --stable {stable}: the canary is the '
                     'newer push under trial (to roll back, give --stable the older version '
                     'alone)')
  config = model_server_config_pb2.ModelServerConfig()
  model = config.model_config_list.config.add(
      name=DEFAULT_MODEL_NAME, base_path=f'{MODELS_MOUNT}/{DEFAULT_MODEL_NAME}',
      model_platform='tensorflow')
  model.model_version_policy.specific.versions.extend(sorted({stable, canary}))
  model.version_labels['stable'] = stable
  model.version_labels['canary'] = canary
  return config


def config_text(serving_dir: str, stable: int, canary: Optional[int] = None) -> str:
  """The ``models.config`` that labels ``stable`` and ``canary`` in ``serving_dir``;
  ValueError naming the folder and the versions there when either is not there."""
  found = versions(serving_dir)
  _check(serving_dir, '--stable', stable, found)
  if canary is not None:
    _check(serving_dir, '--canary', canary, found)
  return HEADER + text_format.MessageToString(build(stable, canary))
