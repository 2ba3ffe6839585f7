"""dlib's model files from the installed face-recognition-models package, never downloaded.

The package (CC0 1.0) is pinned in requirements.lock, so the files install offline from a
wheel cache or a mirror like every other dependency. Ingest uses the 5-point landmark model
(alignment) and the Trainer the face-recognition ResNet. The package's 68-point model is
never used: its iBUG 300-W training data excludes commercial use.
"""
import hashlib
import importlib.util
import os
from typing import Optional

PACKAGE = 'face_recognition_models'
REQUIREMENT = 'face-recognition-models==0.3.0'
SHAPE_PREDICTOR_5 = 'shape_predictor_5_face_landmarks.dat'
SHAPE_PREDICTOR_5_SHA256 = 'c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888'
# The face-recognition ResNet, the Trainer's dlib_resnet backbone (trainer/dlib_resnet.py).
RESNET_FILE = 'dlib_face_recognition_resnet_model_v1.dat'
RESNET_SHA256 = '55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30'


class WeightsNotFound(FileNotFoundError):
  """No model file at the explicit path, in the Keras cache or in the package."""


class WeightsMismatch(ValueError):
  """A model file whose layers do not fit the model, or not the file it should be."""


def models_dir() -> Optional[str]:
  """The ``models/`` folder of the installed face_recognition_models, or None.

  Found without importing the package: its ``__init__`` imports ``pkg_resources``, which
  an environment without setuptools lacks.
  """
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    return None
  return os.path.join(list(spec.submodule_search_locations)[0], 'models')


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def resolve(file_name: str, sha256: str, explicit: Optional[str] = None) -> str:
  """Return a model file shipped in face_recognition_models, or raise with instructions.

  An explicit path is taken as it is (it may be a fine-tuned file); the packaged file must
  have the ``sha256`` of the locked release, so a damaged or different install stops the
  run instead of using a model nobody validated.
  """
  if explicit:
    if not os.path.isfile(explicit):
      raise WeightsNotFound(f'weights file {explicit} does not exist')
    return explicit
  install = (f'Install it with `uv pip install {REQUIREMENT}` (or `pip install '
             f'{REQUIREMENT}`; scripts/setup.sh does so from requirements.lock), '
             f'or pass --weights /path/to/{file_name}.')
  models = models_dir()
  path = os.path.join(models, file_name) if models else None
  if not path or not os.path.isfile(path):
    raise WeightsNotFound(f'pretrained model {file_name} not found: the Python package '
                          f'{REQUIREMENT} that ships it is not installed. '
                          f'This machine cannot download it. {install}')
  found = _sha256(path)
  if found != sha256:
    raise WeightsMismatch(f'{path} has sha256 {found}, not {sha256} as in '
                          f'{REQUIREMENT}: the install is damaged or another '
                          f'release. {install}')
  return path
