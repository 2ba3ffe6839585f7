"""The model card: rendered from fixed facts whose every number is checked in the
Markdown, the not-clinical warning for the sample data, no subject or input path in it,
and the Pusher that puts it into the pushed version. The full-pipeline test checks a real
card against the Evaluator."""
import os

import numpy as np
import pytest
from tfx.dsl.components.base import base_executor
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.evaluation import gates, tables
from components.model_card import card, pusher
from components.model_card.component import ModelCard
from preprocessing.labels import GRADES
from tests import markdown

SUBJECT = {'exact_accuracy': (5 / 6, 0.5, 1.0), 'within_one_accuracy': (1.0, 1.0, 1.0),
           'mae': (1 / 6, 0.0, 0.5), 'quadratic_weighted_kappa': (0.9143, 0.62, 1.0),
           'balanced_accuracy': (0.8333, 0.5, 1.0), 'macro_f1': (0.7778, 0.39, 1.0),
           'ece': (0.0612, 0.04, 0.19), 'brier': (0.2104, 0.09, 0.41), 'nll': (0.4518, 0.2, 0.93)}
INGEST = {
    'split_by': 'subject', 'sample_data': True,
    'examples_per_split': {'train': 400, 'eval': 70, 'test': 114},
    'subjects_per_split': {'train': 36, 'eval': 6, 'test': 6},
    'examples_per_class': {'train': {'mild': 70, 'normal': 66}, 'test': {'mild': 19}},
    'subjects_per_class': {'train': {'mild': 6, 'normal': 6}, 'test': {'mild': 1}},
    'test_subjects_also_in_train': 0, 'examples_per_source': {'meei': 290, 'yfp': 294},
    'videos_read': 48, 'images_read': 48, 'frames_sampled': 600, 'faces_found': 584,
    'frames_without_face': 16,
    'failed_inputs': [{'row': 3, 'video': '5f0c9e2a71d4b8a3e6c1', 'reason': 'no face'}]}
MODEL = {
    'preset': 'demo', 'head': 'plain', 'image_size': 64, 'seed': 42, 'train_steps': None,
    'normalisation': 'standardize', 'weights': 'keras cache', 'epochs_run': 37,
    'best_val_loss': 0.4213, 'device': 'CPU', 'train_examples_per_grade': [66, 68, 70, 64, 66, 66],
    'hyper_parameters': {'backbone': 'small_cnn', 'trainable_layers': 1000, 'optimizer': 'adam',
                         'learning_rate': 0.0003, 'dropout': 0.3, 'normalisation': 'standardize',
                         'epochs': 80, 'patience': 30, 'batch_size': 16, 'head_units': 64,
                         'head': 'plain'},
    'crop_settings': {'crop': {'size': 64, 'margin': 0.25, 'detect_width': 640,
                               'alignment': 'five_point', 'jpeg_quality': 95},
                      'source_fps': {'meei': 3.0, 'yfp': 6.0}, 'default_fps': 3.0},
    'calibration': {'method': 'temperature scaling on the eval split', 'temperature': 1.73205,
                    'fitted': True, 'reason': None, 'eval_frames': 70,
                    'eval_nll_before': 0.61234, 'eval_nll_after': 0.48766, 'at_bound': False},
    'ood': {'method': 'Mahalanobis', 'threshold': 13.45678, 'percentile': 99.0,
            'threshold_split': 'eval', 'train_frames': 400, 'eval_frames': 70,
            'feature_dim': 128, 'shrinkage': 0.23456, 'grades_with_mean': [0, 1, 2, 3, 4, 5]},
    'referral': {'ood_threshold': 13.45678, 'max_ood_share': 0.5, 'min_confidence': 0.41234,
                 'min_faces': 3, 'confidence_quantile': 0.05, 'eval_videos': 12}}
GATES = [gates.Gate('subject_balanced_accuracy', 'overall', '>= 0.8', '0.833', gates.PASSED),
         gates.Gate('change in sparse_categorical_accuracy', 'overall',
                    'no regression beyond 0.01 against the last blessed model', '–',
                    gates.NOT_CHECKED)]
LINEAGE = card.Lineage(pipeline='palsy-tfx', run_id='2024-01-02T03:04:05.678', execution_id='9',
                       artifacts=[('examples', 'Examples', 1, '/root/VideoIngest/examples/1'),
                                  ('model', 'Model', 7, '/root/Trainer/model/6'),
                                  ('evaluation', 'ModelEvaluation', 11, '/root/Evaluator/e/8')])


def _metrics():
  metrics = {'subject_count': 6, 'video_count': 12, 'frame_count': 114}
  for name, (value, low, high) in SUBJECT.items():
    metrics.update({f'subject_{name}': value, f'subject_{name}_ci_low': low,
                    f'subject_{name}_ci_high': high, f'video_{name}': value - 0.01,
                    f'frame_{name}': value - 0.02})
  for g, grade in enumerate(GRADES):
    metrics.update({f'subject_recall[{grade}]': float(g != 4), f'frame_recall[{grade}]': 0.1 * g,
                    f'subject_recall_ci_low[{grade}]': float(g != 4),
                    f'subject_recall_ci_high[{grade}]': float(g != 4)})
  return metrics


def facts(**changes) -> card.Facts:
  subject_matrix = np.eye(6, dtype=np.int64)
  subject_matrix[4] = [0, 0, 0, 0, 0, 1]  # the severe subject graded complete
  return card.Facts(model_name='palsy', blessed=True, split='test', ingest=INGEST,
                    metrics=_metrics(), subject_matrix=subject_matrix, gates=GATES,
                    model=MODEL, lineage=LINEAGE)._replace(**changes)


REQUIRED_SECTIONS = ('Model details', 'Intended use', 'Limitations', 'Training data',
                     'Evaluation on the test split: subject level with 95% confidence intervals',
                     'Gates', 'Preset and hyper-parameters', 'Hyper-parameter search',
                     'Crop settings', 'Provenance (ML Metadata)')


def test_every_required_section_is_there():
  text = card.render(facts())
  assert text.startswith('# Model card: palsy\n')
  assert tuple(markdown.sections(text)) == REQUIRED_SECTIONS
  details = markdown.table_rows(markdown.sections(text)['Model details'], ('', ''))
  assert details['preset'] == ['demo (backbone small_cnn, head plain)']
  assert details['input'] == ['face crop, 64 px square, normalisation standardize']
  assert details['epochs run'] == ['37'] and details['best eval loss'] == ['0.4213']
  assert details['calibration'] == [
      'temperature scaling on the eval split (70 frames): T = 1.7321, eval NLL 0.6123 '
      'before, 0.4877 after']


def test_a_model_from_before_calibration_says_it_has_none():
  model = {k: v for k, v in MODEL.items() if k != 'calibration'}
  details = markdown.table_rows(
      markdown.sections(card.render(facts(model=model)))['Model details'], ('', ''))
  assert details['calibration'] == ["none: the probabilities are the network's own softmax"]


def test_a_calibration_by_laplaces_rule_says_so():
  model = {**MODEL, 'calibration': {**MODEL['calibration'], 'temperature': 0.36699,
                                    'objective': 'laplace', 'laplace_target': 71 / 72}}
  assert _details(model)['calibration'] == [
      'temperature scaling on the eval split (70 frames, every one graded right, so T '
      "matches their mean top probability to Laplace's 71/72 = 0.9861): T = 0.3670, eval "
      'NLL 0.6123 before, 0.4877 after']


def test_a_calibration_the_eval_split_could_not_fit_says_t_is_one_and_why():
  reason = 'no eval frames'
  model = {**MODEL, 'calibration': {**MODEL['calibration'], 'temperature': 1.0,
                                    'fitted': False, 'reason': reason}}
  details = markdown.table_rows(
      markdown.sections(card.render(facts(model=model)))['Model details'], ('', ''))
  assert details['calibration'] == [
      f'not fitted ({reason}; 70 eval frames): T = 1, the probabilities are the '
      "network's own softmax, not calibrated"]


def _details(model):
  return markdown.table_rows(
      markdown.sections(card.render(facts(model=model)))['Model details'], ('', ''))


def test_the_card_states_the_guard_and_the_referral_thresholds():
  details = _details(MODEL)
  assert details['out-of-distribution guard'] == [
      "Mahalanobis distance of a crop's 128 pooled backbone features to the nearest grade's "
      'mean over 400 train crops (one shared covariance, shrinkage 0.235), served as '
      "ood_score; threshold 13.457, the 99th percentile of 70 eval crops' scores: a crop "
      'over it is less like the training crops than 99% of the held-out ones']
  assert details['referral'] == [
      'refer a file to a clinician, not grade it, when more than 50% of its face frames '
      'score over 13.457; or its confidence (top pooled probability) is under 0.412 (the 5% '
      'quantile of 12 eval videos); or it has fewer than 3 frames with a face']


def test_a_guard_set_on_the_train_split_says_so():
  model = {**MODEL, 'ood': {**MODEL['ood'], 'threshold_split': 'train', 'eval_frames': 0}}
  (row,) = _details(model)['out-of-distribution guard']
  assert "99th percentile of 400 train crops' scores" in row
  assert row.endswith('(the eval split was empty, so the train crops set it, and it refers '
                      'more than it should)')


def test_a_model_from_before_the_guard_says_it_has_none():
  model = {k: v for k, v in MODEL.items() if k not in ('ood', 'referral')}
  details = _details(model)
  assert details['out-of-distribution guard'] == [
      'none: exported without the guard, so no crop is referred as unlike the training '
      'crops']
  assert details['referral'] == [
      'none recorded: exported before the rule, a file is referred only when it has fewer '
      'than 3 frames with a face']


def test_subject_level_metrics_and_intervals_are_the_inputs():
  rows = markdown.table_rows(card.render(facts()), tables.LEVEL_HEADER)
  assert len(rows) == len(SUBJECT)
  for name, label in tables.SUBJECT_MEASURES:
    value, low, high = SUBJECT[name]
    subject, video, frame = rows[label]
    assert subject == f'{value:.3f} [{low:.2f}, {high:.2f}]', name
    assert (video, frame) == (f'{value - 0.01:.3f}', f'{value - 0.02:.3f}'), name
  assert '6 subjects, 12 videos and stills, 114 frames' in card.render(facts())


def test_per_grade_rows_count_the_subjects():
  rows = markdown.table_rows(card.render(facts()), tables.GRADE_HEADER)
  assert rows['severe'][0] == '0/1 0.000 [0.00, 0.00]'
  assert rows['mild'][0] == '1/1 1.000 [1.00, 1.00]'
  assert rows['complete'][2] == '0.500'  # frame recall, 0.1 * 5


def test_gates_hyper_parameters_crop_and_lineage_are_the_inputs():
  text = card.render(facts())
  assert markdown.table_rows(text, gates.GATE_HEADER) == {g.metric: list(g[1:]) for g in GATES}
  hyper = markdown.table_rows(text, ('parameter', 'value'))
  for key, value in MODEL['hyper_parameters'].items():
    assert hyper[key] == [str(value)], key
  assert hyper['seed'] == ['42'] and hyper['image_size'] == ['64']
  crop = markdown.table_rows(text, ('setting', 'value'))
  for key, value in MODEL['crop_settings']['crop'].items():
    assert crop[key] == [str(value)], key
  assert crop['frames per second (yfp)'] == ['6.0']
  assert crop['frames per second (other sources)'] == ['3.0']
  ids = markdown.table_rows(text, ('artifact', 'type', 'MLMD id', 'URI'))
  assert ids == {role: [kind, str(mlmd_id), uri] for role, kind, mlmd_id, uri in LINEAGE.artifacts}
  run = markdown.table_rows(markdown.sections(text)['Provenance (ML Metadata)'], ('', ''))
  assert run == {'pipeline': ['palsy-tfx'], 'pipeline run': ['2024-01-02T03:04:05.678'],
                 'model card execution': ['9']}


def test_training_data_is_the_ingest_summary_without_names():
  text = card.render(facts())
  data = markdown.sections(text)['Training data']
  splits = markdown.table_rows(data, ['split', 'examples', 'subjects'] + list(GRADES))
  assert splits['train'][:2] == ['400', '36'] and splits['test'][:2] == ['114', '6']
  assert splits['train'][2 + GRADES.index('mild')] == '70 (6)'
  assert '48 videos and 48 stills read' in data and 'failed inputs: 1.' in data
  assert 'normal 66, near_normal 68' in data
  assert 'jane-doe' not in text  # an input path may name a person


def test_the_sample_data_is_called_not_clinical_and_real_data_is_not():
  demo = card.render(facts())
  assert demo.split('\n\n')[1] == '> ' + card.DEMO_WARNING
  assert 'not clinical data' in markdown.sections(demo)['Limitations']
  real = card.render(facts(ingest={**INGEST, 'sample_data': False}))
  assert 'not clinical data' not in real and 'sample data' not in real
  assert tuple(markdown.sections(real)) == REQUIRED_SECTIONS


def test_a_refused_model_and_missing_records_say_so():
  text = card.render(facts(blessed=False, ingest=None, model={}))
  assert 'NOT blessed' in markdown.sections(text)['Model details']
  assert 'No ingest summary' in text
  assert 'did not record how their faces were cropped' in text


# --- the Pusher ----------------------------------------------------------------------

def _push(tmp_path, blessed: bool, with_card: bool = True):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  serving = tmp_path / 'model' / 'Format-Serving'
  (serving / 'assets.extra').mkdir(parents=True)
  (serving / 'saved_model.pb').write_bytes(b'graph')
  (serving / 'assets.extra' / 'palsy_model.json').write_text('{}')
  blessing = standard_artifacts.ModelBlessing()
  blessing.set_int_custom_property('blessed', int(blessed))
  model_card = ModelCard()
  model_card.uri = str(tmp_path / 'card')
  os.makedirs(model_card.uri)
  (tmp_path / 'card' / card.CARD_FILE).write_text('# Model card: palsy\n')
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / 'pushed')
  destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(
      base_directory=str(tmp_path / 'serving')))
  context = base_executor.BaseExecutor.Context(tmp_dir=str(tmp_path / 'tmp'), unique_id='3')
  inputs = {'model': [model], 'model_blessing': [blessing]}
  if with_card:
    inputs['model_card'] = [model_card]
  pusher.Executor(context).Do(inputs, {'pushed_model': [pushed]},
                              {'push_destination': proto_utils.proto_to_json(destination)})
  return pushed


def test_a_blessed_model_is_pushed_with_its_card(tmp_path):
  pushed = _push(tmp_path, blessed=True)
  version = pushed.get_string_custom_property('pushed_destination')
  assert os.path.dirname(version) == str(tmp_path / 'serving')
  for where in (version, pushed.uri):
    assert sorted(os.listdir(os.path.join(where, 'assets.extra'))) == [
        card.CARD_FILE, 'palsy_model.json']
    with open(os.path.join(where, 'assets.extra', card.CARD_FILE)) as f:
      assert f.read() == '# Model card: palsy\n'
    assert os.path.exists(os.path.join(where, 'saved_model.pb'))
  # The Trainer's model is left as it was.
  assert os.listdir(tmp_path / 'model' / 'Format-Serving' / 'assets.extra') == ['palsy_model.json']


def test_a_refused_model_is_not_pushed_card_or_not(tmp_path):
  pushed = _push(tmp_path, blessed=False)
  assert pushed.get_int_custom_property('pushed') == 0
  assert not os.path.exists(tmp_path / 'serving')


def test_without_a_card_it_is_tfxs_pusher(tmp_path):
  pushed = _push(tmp_path, blessed=True, with_card=False)
  version = pushed.get_string_custom_property('pushed_destination')
  assert os.listdir(os.path.join(version, 'assets.extra')) == ['palsy_model.json']


@pytest.mark.parametrize('stop_after', ['push', 'evaluate'])
def test_only_a_pushing_pipeline_writes_a_card_and_its_pusher_takes_it(tmp_path, stop_after):
  from pipeline.pipeline import create_pipeline  # pylint: disable=g-import-not-at-top
  from pipeline.options import DataOptions, ServingOptions  # pylint: disable=g-import-not-at-top
  built = create_pipeline('p', str(tmp_path), DataOptions('m.csv', input_fingerprint='f'),
                          serving=ServingOptions(serving_dir=str(tmp_path / 'serving')),
                          stop_after=stop_after)
  components = {c.id: c for c in built.components}
  if stop_after == 'evaluate':
    assert 'ModelCardWriter' not in components and 'Pusher' not in components
    return
  assert isinstance(components['Pusher'], pusher.CardPusher)
  assert components['Pusher'].inputs['model_card'] is (
      components['ModelCardWriter'].outputs['model_card'])


def test_the_evaluators_referral_measures_are_stated():
  metrics = {**_metrics(), 'subject_coverage': 5 / 6, 'subject_coverage_ci_low': 0.5,
             'subject_coverage_ci_high': 1.0, 'subject_accepted_exact_accuracy': 0.8,
             'subject_accepted_exact_accuracy_ci_low': 0.4,
             'subject_accepted_exact_accuracy_ci_high': 1.0,
             'subject_accepted_within_one_accuracy': 1.0,
             'subject_accepted_within_one_accuracy_ci_low': 1.0,
             'subject_accepted_within_one_accuracy_ci_high': 1.0}
  section = markdown.sections(card.render(facts(metrics=metrics)))[REQUIRED_SECTIONS[4]]
  assert ("Referral by the model's rule: coverage (subjects not referred) 0.833 [0.50, 1.00]; "
          'among the accepted, exact 0.800 [0.40, 1.00] and within one 1.000 [1.00, 1.00].'
          ) in section
  assert 'Referral by' not in card.render(facts())  # not measured: not claimed
  assert tables.referral_line(metrics) in tables.metrics_table(metrics)


def test_the_frame_ece_before_calibration_sits_under_the_ece():
  text = card.render(facts(metrics={**_metrics(), 'frame_ece_uncalibrated': 0.0893}))
  labels = [line.split('|')[1].strip() for line in text.splitlines()
            if line.startswith('|') and '|' in line[1:]]
  ece = labels.index('ECE (top-label, 10 bins)')
  assert labels[ece + 1] == tables.UNCALIBRATED_LABEL
  rows = markdown.table_rows(text, tables.LEVEL_HEADER)
  assert rows[tables.UNCALIBRATED_LABEL] == ['', '', '0.089']
  assert tables.UNCALIBRATED_LABEL not in card.render(facts())


# A search as trainer.search_space records it in palsy_model.json, and the trials TFX's
# Tuner wrote for it (best first).
TUNING = {'space': {'learning_rate': [0.0, 0.003], 'trainable_layers': [1000],
                    'dropout': [0.1]},
          'algorithm': 'grid', 'trials': 2, 'epochs': 6, 'objective': 'val_loss',
          'split': 'eval', 'chosen': {'learning_rate': 0.003, 'trainable_layers': 1000,
                                      'dropout': 0.1}}
TRIALS = [{'trial_id': '1', 'score': 1.2345, 'learning_rate': 0.003, 'trainable_layers': 1000,
           'dropout': 0.1},
          {'trial_id': '0', 'score': 1.7918, 'learning_rate': 0.0, 'trainable_layers': 1000,
           'dropout': 0.1}]


def test_the_card_lists_every_trial_and_marks_the_values_trained_with():
  text = card.render(facts(model={**MODEL, 'tuning': TUNING}, trials=TRIALS))
  section = markdown.sections(text)['Hyper-parameter search']
  assert ('Grid search by TFX\'s Tuner: 2 trial(s) of at most 6 epoch(s) each (early '
          "stopping as the Trainer's), scored by the lowest val_loss on the eval split"
          ) in section
  assert ('The Trainer trained with learning_rate 0.003, trainable_layers 1000, dropout '
          '0.1.') in section
  rows = markdown.table_rows(section, ('trial', 'learning_rate', 'trainable_layers', 'dropout',
                                       'val_loss (eval split)', 'chosen'))
  assert rows == {'1': ['0.003', '1000', '0.1', '1.2345', 'yes'],
                  '0': ['0', '1000', '0.1', '1.7918', '']}


def test_a_card_without_a_search_says_so():
  section = markdown.sections(card.render(facts()))['Hyper-parameter search']
  assert section.strip() == ("No search: the Trainer trained with the preset's values and "
                             "the command line's overrides.")
