"""The Tuner (``--tune``): its search space and flags, its place in the pipeline, and a
real search under LocalDagRunner whose choice the Trainer trains with.

The end-to-end test gives the Tuner, on the demo data, a learning rate that trains (0.001)
and one that diverges (1.0, an eval loss in the thousands): it must choose the one that
trains, by its loss on the eval split, and the exported model's record must hold exactly
the chosen values. It fails if the objective's direction, the split or the hand-over to
the Trainer is wrong (with ``'max'`` for ``'min'`` it chooses 1.0).

Why not learning rate 0 against a working one: on this data (one subject per grade in
each split) no setting generalises to the eval subjects within a few epochs, so a rate
that trains scores about what rate 0 scores (ln 6, chance). Measured on three ingests,
6 epochs: rate 0 scored 1.809 to 1.811; rates 0.001 to 0.01 1.780 to 1.850, either side.
A test that hung on which side would fail by chance, not because the Tuner is wrong.
"""
import dataclasses
import glob
import json
import os

import pytest

from pipeline import options
from pipeline.cli import main as cli
from trainer import presets, search_space


@pytest.mark.parametrize('name', sorted(presets.PRESETS))
def test_every_presets_default_grid_holds_its_own_values(name):
  preset, space = presets.PRESETS[name], search_space.DEFAULT_SPACES[name]
  assert list(space) == list(search_space.PARAMETERS)
  for field, values in space.items():
    assert getattr(preset, field) in values, field
  assert search_space.check_space(space, 'x') == space  # of the right types already


def test_the_settings_fill_in_the_presets_defaults():
  tune = options.TuneOptions(enabled=True, space={'learning_rate': (0, 0.003, 0.003)})
  model = options.ModelOptions(preset='demo', overrides={'epochs': 9}, tune=tune)
  assert model.custom_config()[presets.CONFIG_TUNE] == {
      'space': {'learning_rate': [0.0, 0.003], 'trainable_layers': [1000],
                'dropout': [0.0, 0.3]},
      'algorithm': 'grid', 'trials': 4, 'epochs': 9, 'objective': 'val_loss', 'split': 'eval'}
  assert presets.CONFIG_TUNE not in options.ModelOptions(preset='demo').custom_config()
  fewer = dataclasses.replace(model.tune, algorithm='random', trials=3, epochs=2)
  assert fewer.settings('demo', presets.PRESETS['demo'])['trials'] == 3
  more = dataclasses.replace(model.tune, trials=99)  # never more than the grid holds
  assert more.settings('demo', presets.PRESETS['demo'])['trials'] == 4


def test_the_chosen_values_replace_the_presets():
  # The settings as the Trainer's custom_config holds them: through JSON with sorted keys.
  tune = json.loads(json.dumps(options.TuneOptions(enabled=True).settings(
      'demo', presets.PRESETS['demo']), sort_keys=True))
  assert list(tune['space']) == ['dropout', 'learning_rate', 'trainable_layers']
  # KerasTuner's HyperParameters.get_config(), as TFX hands it to the Trainer.
  config = {'space': [], 'values': {'learning_rate': 0.003, 'dropout': 0.1,
                                    'trainable_layers': 1000}}
  preset, record = search_space.apply(presets.PRESETS['demo'], config, tune)
  assert (preset.learning_rate, preset.dropout, preset.trainable_layers) == (0.003, 0.1, 1000)
  assert preset.epochs == presets.PRESETS['demo'].epochs
  assert record == {**tune, 'chosen': {'learning_rate': 0.003, 'trainable_layers': 1000,
                                       'dropout': 0.1}}
  # The record lists the fields in the paper's order again, for the card's columns.
  assert list(record['space']) == list(search_space.PARAMETERS) == list(record['chosen'])
  assert search_space.apply(presets.PRESETS['demo'], None, None) == (
      presets.PRESETS['demo'], None)


def _run(tmp_path, capsys, *flags):
  code = cli.main(['run', '--manifest', str(tmp_path / 'no-manifest.csv'), '--pipeline-root',
                   str(tmp_path / 'root'), '--model', 'demo', *flags])
  return code, capsys.readouterr().err


@pytest.mark.parametrize('flags,message', [
    (['--tune', '--tune-space', '{"learning_rate": [0.001'],
     '--tune-space must be JSON {field: [values]}'),
    (['--tune', '--tune-space', '[0.001]'], '--tune-space must be a JSON object'),
    (['--tune', '--tune-space', '{"lr": [0.001]}'],
     "--tune-space: unknown parameter(s) 'lr'; the Tuner searches learning_rate, "
     'trainable_layers, dropout'),
    (['--tune', '--tune-space', '{"trainable_layers": [2.5]}'],
     '--tune-space: trainable_layers takes int values, got 2.5'),
    (['--tune', '--tune-space', '{"dropout": []}'],
     '--tune-space: dropout takes a non-empty list of values'),
    (['--tune', '--tune-dropout', '1'], '--tune-dropout: dropout values must be [0, 1)'),
    (['--tune', '--tune-learning-rate', '-1'],
     '--tune-learning-rate: learning_rate values must be >= 0'),
    (['--tune', '--tune-space', '{"dropout": [0.1]}', '--tune-dropout', '0.2'],
     'dropout is given twice, by --tune-space and by --tune-dropout'),
    (['--tune', '--learning-rate', '0.01'],
     '--learning-rate sets learning_rate, which --tune searches: drop --learning-rate, or '
     'search that one value (--tune-learning-rate 0.01)'),
    (['--tune', '--tune-trials', '0'], '--tune-trials must be at least 1'),
    (['--tune-epochs', '3'], 'set the search of --tune: give --tune, or drop them'),
])
def test_a_bad_search_fails_before_any_work_and_names_the_flag(tmp_path, capsys, flags,
                                                               message):
  code, err = _run(tmp_path, capsys, *flags)
  assert code == 2 and message in err, err
  assert not (tmp_path / 'root').exists()


def _pipeline(tmp_path, tune):
  from pipeline.pipeline import create_pipeline  # pylint: disable=g-import-not-at-top
  return create_pipeline(
      'p', str(tmp_path), options.DataOptions(manifest='m.csv', input_fingerprint='f',
                                              grades=(0, 1)),
      options.ModelOptions(preset='demo', tune=options.TuneOptions(enabled=tune)),
      serving=options.ServingOptions(serving_dir=str(tmp_path / 'serving')))


def test_the_tuner_comes_before_the_trainer_and_selects_on_the_eval_split(tmp_path):
  components = {c.id: c for c in _pipeline(tmp_path, tune=True).components}
  tuner, trainer = components['Tuner'], components['Trainer']
  assert json.loads(tuner.exec_properties['eval_args']) == {'splits': ['eval']}
  assert json.loads(tuner.exec_properties['train_args']) == {'splits': ['train']}
  assert tuner.exec_properties['tuner_fn'] == 'trainer.tuner.tuner_fn'
  assert json.loads(trainer.exec_properties['eval_args']) == {'splits': ['eval']}
  assert trainer.inputs['hyperparameters'] is tuner.outputs['best_hyperparameters']
  for name in ('ModelCardWriter', 'EvidenceReporter'):
    assert components[name].inputs['tuner_results'] is tuner.outputs['tuner_results'], name
  assert components['Evaluator'].exec_properties['example_splits'] == '["test"]'
  plain = {c.id: c for c in _pipeline(tmp_path, tune=False).components}
  assert 'Tuner' not in plain and 'hyperparameters' not in plain['Trainer'].inputs
  assert 'tuner_results' not in plain['EvidenceReporter'].inputs


@pytest.mark.slow  # runs the pipeline with a Tuner, trains
def test_the_tuner_chooses_the_rate_that_trains_and_the_trainer_trains_with_it(
    tmp_path_factory):
  from pipeline.demo.sample_data import write_sample_data  # pylint: disable=g-import-not-at-top
  from tests import markdown  # pylint: disable=g-import-not-at-top
  base = tmp_path_factory.mktemp('tune')
  data_dir, root = str(base / 'data'), str(base / 'pipeline')
  write_sample_data(data_dir, per_grade=3, seconds=1.6)
  # Neither the preset's values (3e-4, dropout 0.3) nor any flag's.
  space = {'learning_rate': [0.001, 1.0], 'trainable_layers': [1000], 'dropout': [0.1]}
  code = cli.main([
      'run', '--manifest', os.path.join(data_dir, 'manifest.csv'), '--pipeline-root', root,
      '--model', 'demo', '--image-size', '32', '--ingest-image-size', '64',
      '--beam-arg=--direct_running_mode=multi_processing', '--beam-arg=--direct_num_workers=2',
      '--epochs', '6', '--tune', '--tune-space', json.dumps(space), '--min-accuracy', '0',
      '--min-class-recall', '0', '--min-subject-balanced-accuracy', '0',
      '--min-subject-within-one', '0', '--min-subject-class-recall', '0'])
  assert code == 0

  def one(pattern):
    [path] = glob.glob(os.path.join(root, pattern))
    return path

  with open(one('Tuner/tuner_results/*/tuner_results.json')) as f:
    trials = json.load(f)
  with open(one('Tuner/best_hyperparameters/*/best_hyperparameters.txt')) as f:
    best = json.load(f)['values']
  assert best == {'learning_rate': 0.001, 'trainable_layers': 1000, 'dropout': 0.1}
  by_rate = {t['learning_rate']: t['score'] for t in trials}
  assert set(by_rate) == {0.001, 1.0}
  # Clearly better: the rate that trains is near chance (ln 6), the other far above it.
  assert by_rate[0.001] < 2 < 10 < by_rate[1.0]
  with open(one('Trainer/model/*/Format-Serving/assets.extra/palsy_model.json')) as f:
    record = json.load(f)
  # Exactly the chosen values.
  hyper = record['hyper_parameters']
  assert {k: hyper[k] for k in best} == best and hyper['epochs'] == 6
  assert record['tuning']['chosen'] == best
  assert record['tuning']['space'] == space and record['tuning']['split'] == 'eval'
  # The card and the report list both trials and which one the model was trained with.
  with open(one('ModelCardWriter/model_card/*/model_card.md')) as f:
    section = markdown.sections(f.read())['Hyper-parameter search']
  rows = markdown.table_rows(section, ('trial', 'learning_rate', 'trainable_layers', 'dropout',
                                       'val_loss (eval split)', 'chosen'))
  assert sorted((r[0], r[4]) for r in rows.values()) == [('0.001', 'yes'), ('1', '')]
  assert sorted(float(r[3]) for r in rows.values()) == pytest.approx(
      sorted(by_rate.values()), abs=1e-4)
  with open(one('EvidenceReporter/report/*/report.html')) as f:
    html = f.read()
  assert '<section id="tuning">' in html and html.count('<td>yes</td>') == 1
