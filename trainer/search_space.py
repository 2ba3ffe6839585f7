"""What the Tuner searches (``--tune``): the preset fields, their values, and how.

Light (no TensorFlow), so that the command line checks a search space when it reads its
flags, before any work; ``trainer.tuner`` searches the space and ``trainer.task`` trains
with the values it chose (``apply``).

The paper (FP-VGGFace, Table 3) chose learning rate, trainable layers and dropout by grid
search and reports the values it chose, not the grid it searched. So each preset's
default grid here holds its Table 3 value (``trainer.presets``) and a neighbour or two;
``--tune-space`` (or ``--tune-learning-rate`` and the like) replaces a field's values.
"""
import dataclasses
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from trainer.presets import Preset

# The preset fields the Tuner searches, with their types.
PARAMETERS = {'learning_rate': float, 'trainable_layers': int, 'dropout': float}
ALGORITHMS = ('grid', 'random')
DEFAULT_ALGORITHM = 'grid'
# What the Tuner minimises: a trial's lowest loss over its epochs on this split, which is
# also what the Trainer's early stopping watches. Never the test split, on which the
# Evaluator judges the model the Trainer then trains.
OBJECTIVE = 'val_loss'
SPLIT = 'eval'
# Per preset: the values each searched field takes by default; its own value among them.
# demo: a from-scratch CNN trains every layer (1000 = all), so only the other two vary.
DEFAULT_SPACES = {
    'fp_vggface': {'learning_rate': (1e-4, 1e-3), 'trainable_layers': (4, 10),
                   'dropout': (0.0, 0.5)},
    'vgg16': {'learning_rate': (1e-4, 1e-3), 'trainable_layers': (4, 8),
              'dropout': (0.3, 0.6)},
    'resnet50': {'learning_rate': (1e-4, 1e-3), 'trainable_layers': (50, 150),
                 'dropout': (0.3, 0.5)},
    'dlib_resnet': {'learning_rate': (1e-4, 1e-3), 'trainable_layers': (0, 3),
                    'dropout': (0.3, 0.5)},
    'demo': {'learning_rate': (1e-4, 3e-4, 1e-3), 'trainable_layers': (1000,),
             'dropout': (0.0, 0.3)},
}


def check_space(space: Any, flag: str) -> Dict[str, Tuple]:
  """``space`` ({field: [values]}) with each field's values of its type, checked and
  without repeats; a ValueError naming ``flag`` otherwise."""
  if not isinstance(space, Mapping):
    raise ValueError(f'{flag} must be a JSON object {{field: [values]}}, e.g. '
                     f'{{"learning_rate": [0.0001, 0.001]}}; got {space!r}')
  unknown = sorted(set(space) - set(PARAMETERS))
  if unknown:
    raise ValueError(f'{flag}: unknown parameter(s) {", ".join(map(repr, unknown))}; the '
                     f'Tuner searches {", ".join(PARAMETERS)}')
  return {name: _values(name, values, flag) for name, values in space.items()}


def _values(name: str, values: Any, flag: str) -> Tuple:
  kind = PARAMETERS[name]
  if not isinstance(values, (list, tuple)) or not values:
    raise ValueError(f'{flag}: {name} takes a non-empty list of values, got {values!r}')
  out = []
  for value in values:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
        or not math.isfinite(value) or (kind is int and value != int(value))):
      raise ValueError(f'{flag}: {name} takes {kind.__name__} values, got {value!r}')
    value = kind(value)
    if value < 0 or (name == 'dropout' and value >= 1):
      bounds = '[0, 1)' if name == 'dropout' else '>= 0'
      raise ValueError(f'{flag}: {name} values must be {bounds}, got {value!r}')
    if value not in out:
      out.append(value)
  return tuple(out)


def in_order(space: Mapping[str, Sequence]) -> Dict[str, list]:
  """``space`` with its fields in ``PARAMETERS``' order, the paper's. TFX hands the
  custom_config over as JSON with sorted keys, so without this the model's record, and
  the card's and the report's tables of trials, would list the fields alphabetically."""
  return {name: list(space[name]) for name in PARAMETERS if name in space}


def grid_size(space: Mapping[str, Sequence]) -> int:
  return math.prod(len(values) for values in space.values())


def settings(preset_name: str, preset: Preset, space: Mapping[str, Sequence],
             algorithm: str = DEFAULT_ALGORITHM, trials: Optional[int] = None,
             epochs: Optional[int] = None) -> dict:
  """The Tuner's settings (``presets.CONFIG_TUNE``) in full: the preset's default space
  with ``space``'s fields replaced (a checked space), the algorithm, the trials (at most
  the grid's size, which is the default) and the epochs per trial (default the preset's,
  with its early stopping)."""
  if algorithm not in ALGORITHMS:
    raise ValueError(f'--tune-algorithm must be one of {", ".join(ALGORITHMS)}, '
                     f'got {algorithm!r}')
  for flag, value in (('--tune-trials', trials), ('--tune-epochs', epochs)):
    if value is not None and value < 1:
      raise ValueError(f'{flag} must be at least 1, got {value}')
  full = {**DEFAULT_SPACES[preset_name], **space}
  size = grid_size(full)
  return {'space': {name: list(values) for name, values in full.items()},
          'algorithm': algorithm, 'trials': min(trials or size, size),
          'epochs': epochs or preset.epochs, 'objective': OBJECTIVE, 'split': SPLIT}


def apply(preset: Preset, hyperparameters: Optional[Mapping], tune: Optional[Mapping]
          ) -> Tuple[Preset, Optional[dict]]:
  """The preset with the values the Tuner chose, and the record of the search for the
  exported model (the settings ``tune``, as ``settings`` made them, and ``chosen``);
  without hyperparameters (no Tuner) the preset as it is and None.
  ``hyperparameters`` is KerasTuner's ``HyperParameters.get_config()``, as TFX hands it
  to the Trainer."""
  if not hyperparameters:
    return preset, None
  values = hyperparameters.get('values', {})
  chosen = {name: kind(values[name]) for name, kind in PARAMETERS.items() if name in values}
  record = {**tune, 'space': in_order(tune['space']), 'chosen': chosen}
  return dataclasses.replace(preset, **chosen), record
