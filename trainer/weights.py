"""Find and load pretrained weights without ever downloading them.

Order: an explicit path, then the Keras cache (or, for dlib's network, the installed
face-recognition-models package), then a clear error naming the file and where to put
it. Clinical sites run air-gapped, so a silent download (or a silent random
initialisation) would be worse than stopping.
"""
import hashlib
import importlib.util
import os
from typing import Dict, List, Optional

import h5py
import keras
import numpy as np

from trainer.vggface import h5_name

KERAS_CACHE = os.path.join(os.path.expanduser('~'), '.keras', 'models')
# dlib's models as a locked PyPI package (requirements.lock), so they install offline
# from a wheel cache or a mirror like every other dependency.
FACE_MODELS_PACKAGE = 'face_recognition_models'
FACE_MODELS_REQUIREMENT = 'face-recognition-models==0.3.0'


class WeightsNotFound(FileNotFoundError):
  """No weight file at the explicit path or in the Keras cache."""


class WeightsMismatch(ValueError):
  """A weight file whose layers do not fit the model, or not the file it should be."""


def resolve(file_name: str, explicit: Optional[str], cache_subdir: str = '') -> str:
  """Return the weight file to load, or raise WeightsNotFound with instructions."""
  if explicit:
    if not os.path.isfile(explicit):
      raise WeightsNotFound(f'weights file {explicit} does not exist')
    return explicit
  cached = os.path.join(KERAS_CACHE, cache_subdir, file_name)
  if os.path.isfile(cached):
    return cached
  raise WeightsNotFound(
      f'pretrained weights {file_name} not found. This machine cannot download them: '
      f'copy the file to {cached} or pass --weights /path/to/{file_name}. '
      f'(Use --weights none only for a smoke test: it trains from random weights.)')


def face_models_dir() -> Optional[str]:
  """The ``models/`` folder of the installed face_recognition_models, or None.

  Found without importing the package: its ``__init__`` imports ``pkg_resources``, which
  an environment without setuptools lacks.
  """
  spec = importlib.util.find_spec(FACE_MODELS_PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    return None
  return os.path.join(list(spec.submodule_search_locations)[0], 'models')


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def resolve_packaged(file_name: str, sha256: str, explicit: Optional[str]) -> str:
  """Return a weight file shipped in face_recognition_models, or raise with instructions.

  An explicit path is taken as it is (it may be a fine-tuned file); the packaged file must
  have the ``sha256`` of the locked release, so a damaged or different install stops the
  run instead of training on weights nobody validated.
  """
  if explicit:
    if not os.path.isfile(explicit):
      raise WeightsNotFound(f'weights file {explicit} does not exist')
    return explicit
  install = (f'Install it with `uv pip install {FACE_MODELS_REQUIREMENT}` (or `pip install '
             f'{FACE_MODELS_REQUIREMENT}`; scripts/setup.sh does so from requirements.lock), '
             f'or pass --weights /path/to/{file_name}.')
  models = face_models_dir()
  path = os.path.join(models, file_name) if models else None
  if not path or not os.path.isfile(path):
    raise WeightsNotFound(f'pretrained weights {file_name} not found: the Python package '
                          f'{FACE_MODELS_REQUIREMENT} that ships them is not installed. '
                          f'This machine cannot download them. {install}')
  found = _sha256(path)
  if found != sha256:
    raise WeightsMismatch(f'{path} has sha256 {found}, not {sha256} as in '
                          f'{FACE_MODELS_REQUIREMENT}: the install is damaged or another '
                          f'release. {install}')
  return path


def _read_h5_layers(path: str) -> Dict[str, List[np.ndarray]]:
  """Weights per layer from a Keras-2 style weights file (rcmalli's layout)."""
  with h5py.File(path, 'r') as f:
    root = f['model_weights'] if 'model_weights' in f else f
    names = [n.decode() if isinstance(n, bytes) else n for n in root.attrs['layer_names']]
    out = {}
    for name in names:
      group = root[name]
      weight_names = [w.decode() if isinstance(w, bytes) else w
                      for w in group.attrs.get('weight_names', [])]
      if weight_names:
        out[name] = [np.asarray(group[w]) for w in weight_names]
  return out


def load_by_name(model: keras.Model, path: str) -> int:
  """Load every weighted layer of ``model`` from ``path`` by (rcmalli) layer name.

  Layers in the file that the model lacks (say, the top of a with-top file) are
  ignored; a model layer missing from the file, or a shape that differs, raises
  WeightsMismatch listing all of them. Returns the number of layers loaded.
  """
  stored = _read_h5_layers(path)
  problems, assignments = [], []
  for layer in model.layers:
    if not layer.weights:
      continue
    name = h5_name(layer.name)
    if name not in stored:
      problems.append(f'{name}: not in file')
      continue
    values = stored[name]
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(v.shape) for v in values]
    if expected != got:
      problems.append(f'{name}: model expects {expected}, file has {got}')
      continue
    assignments.append((layer, values))
  if problems:
    raise WeightsMismatch(f'{path} does not fit model {model.name}; {len(problems)} '
                          f'mismatched layer(s):\n  ' + '\n  '.join(problems))
  for layer, values in assignments:
    layer.set_weights(values)
  return len(assignments)


def save_rcmalli_layout(model: keras.Model, path: str) -> None:
  """Write ``model``'s weights the way keras-vggface's files are laid out (Keras 2
  ``save_weights`` h5, '/'-separated names). Used to make test fixtures."""
  with h5py.File(path, 'w') as f:
    names = []
    for layer in model.layers:
      name = h5_name(layer.name)
      names.append(name.encode())
      group = f.require_group(name)
      weight_names = []
      for w in layer.weights:
        wname = f'{name}/{w.path.split("/")[-1]}:0'
        group.create_dataset(wname, data=np.asarray(w))
        weight_names.append(wname.encode())
      group.attrs['weight_names'] = weight_names
    f.attrs['layer_names'] = names
    f.attrs['backend'] = b'tensorflow'
    f.attrs['keras_version'] = b'2.2.4'
