"""The evidence report's parts on hand-made inputs whose answers are worked out here:
ROC curves, per-video grades, the subject cross-check, statistics rows, gates, the
headline and the HTML. The browser test and the full-pipeline test cover the rest."""
import base64
import io
import re

import numpy as np
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.evaluation import gates, results, tables
from components.evidence_report import headline, page, plots, predictions, roc, sections
from components.evidence_report import statistics as statistics_lib
from components.video_ingest.summary import FRAME_SPLIT_WARNING
from pipeline import eval_config
from pipeline.options import DataOptions, Gates, ServingOptions
from preprocessing.labels import GRADES, NUM_GRADES
from tests.report_evidence import FRAMES, METRICS, evidence


# --- ROC ---------------------------------------------------------------------------

def test_roc_of_a_hand_made_ranking():
  # Scores high to low: 0.9 P, 0.6 N, 0.4 P, 0.1 N. Of the four positive-negative pairs,
  # only (0.4 P, 0.6 N) is ranked wrongly: AUC 3/4.
  curve = roc.roc_curve([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1])
  assert curve.tpr.tolist() == [0, 0.5, 0.5, 1, 1]
  assert curve.fpr.tolist() == [0, 0, 0.5, 0.5, 1]
  assert curve.auc == pytest.approx(0.75)


def test_roc_counts_a_tie_as_half_right():
  # One positive tied with one of two negatives, above the other: (1/2 + 1) / 2.
  curve = roc.roc_curve([1, 0, 0], [0.5, 0.5, 0.2])
  assert curve.auc == pytest.approx(0.75)
  assert curve.fpr.tolist() == [0, 0.5, 1] and curve.tpr.tolist() == [0, 1, 1]


def test_roc_of_a_perfect_and_a_reversed_ranking():
  assert roc.roc_curve([1, 1, 0], [0.9, 0.8, 0.1]).auc == 1.0
  assert roc.roc_curve([0, 0, 1], [0.9, 0.8, 0.1]).auc == 0.0


def test_roc_needs_both_classes():
  assert roc.roc_curve([1, 1], [0.3, 0.4]) is None
  assert roc.roc_curve([0, 0], [0.3, 0.4]) is None
  with pytest.raises(ValueError):
    roc.roc_curve([1, 0], [0.3])


# --- predictions per video and subject ---------------------------------------------

def test_per_video_grades_by_the_mean_of_the_frames_probabilities():
  rows = predictions.per_video(FRAMES)
  assert [(r['subject'], r['video'], r['source'], r['frames'], r['true'], r['predicted'])
          for r in rows] == [('a', 'v1', 'meei', 3, 0, 1), ('a', 'v2', 'stills', 1, 0, 0),
                             ('b', 'v3', 'yfp', 1, 2, 2)]
  assert rows[0]['probabilities'][:2] == pytest.approx([0.4, 0.4667], abs=1e-4)
  assert sum(rows[0]['probabilities']) == pytest.approx(1)


def test_subject_confusion_and_counts():
  # Subject a: the mean of its four frames is [0.525, 0.355, ...] -> grade 0, right;
  # subject b -> grade 2, right.
  expected = np.zeros((NUM_GRADES, NUM_GRADES), int)
  expected[0, 0] = expected[2, 2] = 1
  assert predictions.subject_confusion(FRAMES).tolist() == expected.tolist()
  assert predictions.counts(FRAMES) == {'subjects': 2, 'videos': 3, 'frames': 5}


def test_cross_check_flags_any_difference():
  matrix = predictions.subject_confusion(FRAMES)
  assert sections.cross_check(matrix.copy(), matrix) is None
  moved = matrix.copy()
  moved[0, 0], moved[0, 1] = 0, 1
  assert 'differs from the Evaluator' in sections.cross_check(moved, matrix)
  assert 'no subject confusion matrix' in sections.cross_check(None, matrix)


# --- statistics --------------------------------------------------------------------

def test_statistics_rows_from_a_hand_made_proto():
  dataset = statistics_pb2.DatasetFeatureStatistics(num_examples=10)
  label = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
  label.path.step.append('label')
  label.num_stats.min, label.num_stats.mean, label.num_stats.max = 0, 2.5, 5
  label.num_stats.common_stats.min_num_values = label.num_stats.common_stats.max_num_values = 1
  box = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
  box.path.step.append('face_box')
  box.num_stats.common_stats.min_num_values = box.num_stats.common_stats.max_num_values = 4
  side = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
  side.path.step.append('side')
  side.string_stats.unique = 2
  side.string_stats.common_stats.num_missing = 3
  side.string_stats.common_stats.max_num_values = 1
  side.string_stats.top_values.add(value='left', frequency=5)
  side.string_stats.top_values.add(value='right', frequency=2)
  image = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
  image.path.step.append('image')
  image.string_stats.unique = 10
  image.string_stats.top_values.add(value='__BYTES_VALUE__', frequency=1)
  assert statistics_lib.feature_rows(dataset) == [
      ['face_box', 'FLOAT', '4', '0', 'min 0, mean 0, max 0'],
      ['image', 'STRING', '0', '0', '10 unique'],
      ['label', 'INT', '1', '0', 'min 0, mean 2.5, max 5'],
      ['side', 'STRING', '0-1', '3', '2 unique; most frequent: left (5), right (2)'],
  ]


# --- gates -------------------------------------------------------------------------

def _key_failure(name, is_diff=False):
  return results.Failure(name, 'overall', is_diff, f'{name} (overall) = 0.1, required ...')


def test_gate_rows_list_every_threshold_with_value_and_verdict():
  config = eval_config.build(Gates(min_accuracy=0.6, min_class_recall=(0.4, 0.3, 0, 0, 0, 0),
                                   min_subject_balanced_accuracy=0.5,
                                   min_subject_within_one=0.9,
                                   min_subject_class_recall=(0.5, 0.25, 0, 0, 0, 0),
                                   regression_tolerance=0.01), grades=[0, 1])
  metrics = {'sparse_categorical_accuracy': 0.7, 'subject_balanced_accuracy': 0.45,
             'subject_within_one_accuracy': 1.0, 'frame_recall[normal]': 0.5,
             'frame_recall[near_normal]': 0.2, 'subject_recall[normal]': 1.0,
             'subject_recall[near_normal]': 0.5}
  failures = [_key_failure('subject_balanced_accuracy'),
              _key_failure('frame_recall[near_normal]')]
  rows = {(g.metric, g.where): g for g in gates.gate_rows(config, metrics, {}, failures)}
  assert set(rows) == {(name, 'overall') for name in [
      'sparse_categorical_accuracy', 'change in sparse_categorical_accuracy',
      'subject_balanced_accuracy', 'change in subject_balanced_accuracy',
      'subject_within_one_accuracy', 'frame_recall[normal]', 'frame_recall[near_normal]',
      'subject_recall[normal]', 'subject_recall[near_normal]']}
  assert rows['sparse_categorical_accuracy', 'overall'] == gates.Gate(
      'sparse_categorical_accuracy', 'overall', '>= 0.6', '0.700', gates.PASSED)
  assert rows['subject_balanced_accuracy', 'overall'].verdict == gates.FAILED
  assert rows['frame_recall[near_normal]', 'overall'] == gates.Gate(
      'frame_recall[near_normal]', 'overall', '>= 0.3', '0.200', gates.FAILED)
  assert rows['subject_recall[near_normal]', 'overall'].required == '>= 0.25'
  # No baseline: the no-regression gates were not checked.
  change = rows['change in sparse_categorical_accuracy', 'overall']
  assert change.verdict == gates.NOT_CHECKED and change.value == 'n/a'
  assert change.required == 'no regression beyond 0.01 against the last blessed model'
  # With a baseline, a change is judged; a failure on a diff key fails the change row only.
  rows = {g.metric: g for g in gates.gate_rows(
      config, metrics, {'sparse_categorical_accuracy': -0.05, 'subject_balanced_accuracy': 0.0},
      [_key_failure('sparse_categorical_accuracy', is_diff=True)])}
  assert rows['change in sparse_categorical_accuracy'].verdict == gates.FAILED
  assert rows['change in sparse_categorical_accuracy'].value == '-0.050'
  assert rows['sparse_categorical_accuracy'].verdict == gates.PASSED
  assert rows['change in subject_balanced_accuracy'].verdict == gates.PASSED


# --- headline ----------------------------------------------------------------------

def test_headline_keeps_the_headline_measures_and_says_what_failed():
  summary = {'examples_per_split': {'train': 10, 'eval': 4, 'test': 5},
             'failed_inputs': [{'row': 4, 'video': 'v1', 'reason': 'no face'}]}
  matrix = np.eye(NUM_GRADES, dtype=np.int64)
  result = headline.build(METRICS, False, ['subject_balanced_accuracy (overall) = 0.5'],
                          summary, {'subjects': 2, 'videos': 3, 'frames': 5}, None, matrix,
                          agrees_with_evaluator=False)
  assert result['metrics'] == {k: v for k, v in METRICS.items()
                               if k not in ('frame_recall[normal]', 'frame_ece')}
  assert result['failed_inputs'] == 1 and result['examples_per_split']['train'] == 10
  assert result['recomputed_subject_confusion'] == matrix.tolist()
  text = headline.format_headline(result)
  assert 'model NOT blessed' in text
  assert 'failed gate: subject_balanced_accuracy (overall) = 0.5' in text
  assert 'subject balanced accuracy: 0.500 [95% CI 0.25, 0.75]' in text
  assert 'frame accuracy: 0.625' in text and 'subject within one grade: n/a' in text
  assert 'test split: 2 subjects, 3 videos and stills, 5 frames' in text
  assert 'failed inputs at ingest: 1' in text and 'WARNING' in text
  blessed = headline.build(METRICS, True, [], summary, {}, '/serving/palsy/1', matrix,
                           True)
  assert headline.format_headline(blessed).startswith(
      '  model BLESSED, pushed to /serving/palsy/1')
  assert 'WARNING' not in headline.format_headline(blessed)
  assert blessed['split_by'] == 'subject'  # a summary without split_by: split by subject


def test_a_frame_split_headline_opens_with_the_leakage_warning():
  summary = {'split_by': 'frame', 'examples_per_split': {'test': 5}, 'failed_inputs': []}
  result = headline.build(METRICS, True, [], summary, {}, None,
                          np.eye(NUM_GRADES, dtype=np.int64), True)
  assert result['split_by'] == 'frame'
  assert headline.format_headline(result).splitlines()[0] == f'  {FRAME_SPLIT_WARNING}'


# --- the page ----------------------------------------------------------------------

def test_table_escapes_cells_and_right_aligns_numbers():
  html = page.table(('name', 'value'), [['<script>alert(1)</script>', '0.500 [0.25, 0.75]'],
                                        ['a & b', '1/2 0.500'], ['x', 'n/a']], [False, True])
  assert '<script>' not in html and '&lt;script&gt;' in html and 'a &amp; b' in html
  assert html.count('<td class="num">') == 3
  assert html.count('<tr class="bad">') == 1


def test_image_is_an_embedded_data_uri_of_the_same_bytes():
  png = plots.roc_png({'normal': roc.roc_curve([1, 0], [0.9, 0.1])}, 'test')
  tag = page.image(png, 'a "quoted" alt')
  data = re.search(r'src="data:image/png;base64,([^"]+)"', tag).group(1)
  assert base64.b64decode(data) == png
  assert 'alt="a &quot;quoted&quot; alt"' in tag


def test_iframe_keeps_its_document_inside_the_attribute():
  frame = page.iframe('<p class="x">it\'s "here"</p>', 'view')
  assert frame.count('"') == 4  # the two attributes' quotes only
  assert 'srcdoc="&lt;p class=&quot;x&quot;&gt;' in frame


def _png_size(png: bytes):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = Image.open(io.BytesIO(png))
  return image.format, image.size


def test_plots_are_pngs():
  matrices = {'frame': np.eye(NUM_GRADES, dtype=int) * 3,
              'subject': np.eye(NUM_GRADES, dtype=int)}
  assert _png_size(plots.confusion_png(matrices, 'held-out')) == ('PNG', (1200, 500))
  assert _png_size(plots.roc_png({}, 'none'))[0] == 'PNG'


def test_page_holds_every_section_and_shades_the_wrong_videos():
  html = sections.report_page(evidence())
  for anchor in ('summary', 'data', 'statistics', 'training', 'tuning', 'confusion', 'roc',
                 'calibration', 'metrics', 'videos', 'gates', 'provenance'):
    assert f'<section id="{anchor}">' in html, anchor
  assert 'Model BLESSED' in html and 'Pushed for TF Serving to /serving/palsy/7' in html
  assert 'row 7 (video bad &lt;1&gt;)' in html and 'Failed inputs: 1' in html
  videos = html[html.index('<section id="videos">'):html.index('<section id="gates">')]
  assert videos.count('<tr class="bad">') == 1  # v1: true normal, graded near_normal
  assert videos.count('<tr') == 1 + 3           # header and three videos
  assert 'equals the Evaluator' in html and 'class="warning"' not in html
  assert 'data-images-loaded' in html   # the image check for browsers


def test_page_warns_when_the_predictions_do_not_reproduce_the_evaluator():
  other = np.zeros((NUM_GRADES, NUM_GRADES), int)
  other[0, 1] = other[2, 2] = 1
  html = sections.report_page(evidence(matrices={'subject': other}))
  summary = html[:html.index('<section id="data">')]
  assert 'class="warning"' in summary and 'differs from the Evaluator' in summary
  assert html.count('class="warning"') == 2  # in the summary and beside the matrices


def test_page_of_a_model_not_blessed_lists_the_failed_gates():
  failed = gates.Gate('change in sparse_categorical_accuracy', 'overall',
                      'no regression beyond 0.01 against the last blessed model', '-0.200',
                      gates.FAILED)
  html = sections.report_page(evidence(
      blessed=False, pushed_to=None, gates=[failed], training_curves=None,
      failures=['sparse_categorical_accuracy (overall) = -0.200, required no regression']))
  assert 'Model NOT blessed' in html and 'Not pushed for serving.' in html
  gates_html = html[html.index('<section id="gates">'):]
  assert gates_html.count('<tr class="bad">') == 1 and 'FAILED' in gates_html
  assert 'Failed, as TFMA reported' in gates_html
  assert 'holds no training_curves.png' in html


def test_a_frame_split_page_opens_with_the_leakage_warning():
  ingest = {**evidence().ingest, 'split_by': 'frame', 'test_subjects_also_in_train': 2}
  html = sections.report_page(evidence(ingest=ingest, pushed_to=None))
  summary = html[html.index('<section id="summary">'):html.index('<section id="data">')]
  first = summary.index('class="warning"')
  assert first < summary.index('Model BLESSED')
  assert 'split by FRAME' in summary[first:] and 'inflated' in summary
  assert 'Evaluated on the test split (split by FRAME, its subjects seen in training' in summary
  assert 'Split by frame; test subjects also in train: 2.' in html
  plain = sections.report_page(evidence())
  assert 'class="warning"' not in plain and 'subjects never seen in training' in plain
  assert 'Split by subject; test subjects also in train: 0.' in plain


def test_measures_section_renders_the_run_summarys_rows():
  html = sections.measures(METRICS, None)
  assert '0.500 [0.25, 0.75]' in html  # subject balanced accuracy with its CI
  for grade in GRADES[1:]:
    assert f'<td>{grade}</td><td>{tables.ABSENT_GRADE}</td>' in html


# --- in the pipeline ---------------------------------------------------------------

def test_every_evaluated_pipeline_ends_with_the_report(tmp_path):
  from pipeline.pipeline import create_pipeline  # pylint: disable=g-import-not-at-top

  def reporter(stop_after):
    built = create_pipeline('p', str(tmp_path), DataOptions('m.csv', input_fingerprint='f'),
                            serving=ServingOptions(serving_dir=str(tmp_path / 'serving')),
                            beam_pipeline_args=['--direct_num_workers=2'],
                            stop_after=stop_after)
    return {c.id: c for c in built.components}.get('EvidenceReporter')

  assert 'pushed_model' in reporter('push').inputs  # it follows the Pusher
  assert 'pushed_model' not in reporter('evaluate').inputs
  assert reporter('validate') is None
  # Its predictions run on Beam, on the runner the pipeline's Beam arguments choose.
  assert reporter('evaluate').executor_spec.beam_pipeline_args == ['--direct_num_workers=2']


def test_the_search_section_lists_every_trial_and_says_which_the_model_was_trained_with():
  record = {'space': {'learning_rate': [0.0, 0.003]}, 'algorithm': 'random', 'trials': 2,
            'epochs': 4, 'objective': 'val_loss', 'split': 'eval',
            'chosen': {'learning_rate': 0.003}}
  trials = [{'trial_id': '01', 'score': 0.5, 'learning_rate': 0.003},
            {'trial_id': '00', 'score': 1.75, 'learning_rate': 0.0}]
  html = sections.report_page(evidence(tuning=record, trials=trials))
  part = html[html.index('<section id="tuning">'):html.index('<section id="confusion">')]
  assert 'Random search by TFX&#x27;s Tuner: 2 trial(s) of at most 4 epoch(s)' in part
  assert ('<tr><td class="num">01</td><td class="num">0.003</td><td class="num">0.5000</td>'
          '<td>yes</td></tr>') in part
  assert ('<tr><td class="num">00</td><td class="num">0</td><td class="num">1.7500</td>'
          '<td></td></tr>') in part
  assert 'No search' in sections.report_page(evidence())
