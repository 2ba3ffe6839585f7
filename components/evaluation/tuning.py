"""The hyper-parameter search (``--tune``) as the evidence report and the model card show
it, worded and tabled one way for both.

Two sources: the trials that TFX's Tuner recorded (``tuner_results.json`` in its
TunerResults artifact: one row per completed trial, best first, with ``trial_id``,
``score`` and the values tried), and the ``tuning`` record of the model's
``palsy_model.json`` (``trainer.search_space``: the space, algorithm, trials, epochs,
objective and split, and ``chosen``, the values the Trainer trained with). So the table
marks the trial whose values the model was really trained with, not merely the best one.
Pure but for ``read_trials``.
"""
import json
import os
from typing import List, Optional, Tuple

import tensorflow as tf

TUNER_RESULTS_FILE = 'tuner_results.json'  # the name TFX 1.16's Tuner executor writes
NO_SEARCH = ("No search: the Trainer trained with the preset's values and the command "
             "line's overrides.")


def read_trials(uri: str) -> List[dict]:
  """The trials of a TunerResults artifact at ``uri``, best first."""
  with tf.io.gfile.GFile(os.path.join(uri, TUNER_RESULTS_FILE)) as f:
    return json.load(f)


def _value(value) -> str:
  return 'n/a' if value is None else f'{value:g}'


def summary(tuning: Optional[dict]) -> str:
  """One sentence: how the search ran and what it chose; ``NO_SEARCH`` without one."""
  if not tuning:
    return NO_SEARCH
  chosen = ', '.join(f'{k} {_value(v)}' for k, v in tuning['chosen'].items())
  return (f'{tuning["algorithm"].capitalize()} search by TFX\'s Tuner: {tuning["trials"]} '
          f'trial(s) of at most {tuning["epochs"]} epoch(s) each (early stopping as the '
          f'Trainer\'s), scored by the lowest {tuning["objective"]} on the '
          f'{tuning["split"]} split (lower is better; the test split is never read). The '
          f'Trainer trained with {chosen}.')


def trial_rows(trials: List[dict], tuning: dict) -> Tuple[List[str], List[List[str]]]:
  """(header, one row per trial): the trial, each searched field's value, the score, and
  'yes' on the trial whose values the model was trained with."""
  fields = list(tuning['space'])
  chosen = tuning['chosen']
  header = ['trial', *fields, f'{tuning["objective"]} ({tuning["split"]} split)', 'chosen']
  rows = [[str(trial['trial_id']), *[_value(trial.get(f)) for f in fields],
           f'{trial["score"]:.4f}',
           'yes' if all(trial.get(k) == v for k, v in chosen.items()) else '']
          for trial in trials]
  return header, rows
