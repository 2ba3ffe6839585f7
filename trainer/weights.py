"""Load pretrained weights in rcmalli's keras-vggface layout, by layer name.

The layer names and weight shapes are those of rcmalli's published files, as
rcmalli/keras-vggface's model definitions make them (tests/test_vggface_published.py
checks every one against ``tests/vggface_published.py``, docs/model.md says which commit).

Where the files are found is ``trainer.weight_files``, which the command line also asks
before any work starts.
"""
from typing import Dict, List, Mapping, Sequence, Tuple

import h5py
import keras
import numpy as np

from preprocessing.face_models import WeightsMismatch, WeightsNotFound  # re-exported
from trainer.vggface import h5_name


def _weight_names(root) -> Dict[str, List[str]]:
  """{layer name: its weights' names, in order} of a Keras-2 style weights file's root
  (rcmalli's layout); layers without weights are left out."""
  def text(value):
    return value.decode() if isinstance(value, bytes) else value
  out = {}
  for name in (text(n) for n in root.attrs['layer_names']):
    names = [text(w) for w in root[name].attrs.get('weight_names', [])]
    if names:
      out[name] = names
  return out


def match(model: keras.Model, stored: Mapping[str, Sequence[Tuple[int, ...]]]
          ) -> Tuple[Dict[str, keras.layers.Layer], List[str]]:
  """Which stored layer each weighted layer of ``model`` takes, by (rcmalli) layer name,
  from the weight shapes per stored layer: ({stored name: layer}, problems). A model layer
  missing from ``stored`` or whose shapes differ is a problem; stored layers the model
  lacks (say, the top of a with-top file) are left out."""
  problems, mapped = [], {}
  for layer in model.layers:
    if not layer.weights:
      continue
    name = h5_name(layer.name)
    if name not in stored:
      problems.append(f'{name}: not in file')
      continue
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(shape) for shape in stored[name]]
    if expected != got:
      problems.append(f'{name}: model expects {expected}, file has {got}')
      continue
    mapped[name] = layer
  return mapped, problems


def load_by_name(model: keras.Model, path: str) -> int:
  """Load every weighted layer of ``model`` from ``path`` by (rcmalli) layer name, each
  layer's weights in the file's order (as Keras 2's own loader assigns them).

  Raises WeightsMismatch listing every problem of ``match``, before any weight is set.
  Returns the number of layers loaded.
  """
  with h5py.File(path, 'r') as f:
    root = f['model_weights'] if 'model_weights' in f else f
    stored = _weight_names(root)
    mapped, problems = match(model, {name: [root[name][w].shape for w in names]
                                     for name, names in stored.items()})
    if problems:
      raise WeightsMismatch(f'{path} does not fit model {model.name}; {len(problems)} '
                            f'mismatched layer(s):\n  ' + '\n  '.join(problems))
    for name, layer in mapped.items():  # only these are read: not a with-top file's top
      layer.set_weights([np.asarray(root[name][w]) for w in stored[name]])
  return len(mapped)


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
