"""Load pretrained weights in rcmalli's keras-vggface layout, by layer name.

Where the files are found is ``trainer.weight_files``, which the command line also asks
before any work starts.
"""
from typing import Dict, List

import h5py
import keras
import numpy as np

from preprocessing.face_models import WeightsMismatch, WeightsNotFound  # re-exported
from trainer.vggface import h5_name


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
