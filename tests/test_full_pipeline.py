"""The whole pipeline end to end on generated sample data, at a reduced size:
real LocalDagRunner with SQLite MLMD, real Beam, real dlib, real TFMA, real Pusher.

Ingest aligns faces by dlib's 5-point landmarks here (the ingest test covers plain
crops). Three runs share one pipeline root: a trained model that is blessed and pushed; then a
worse candidate (the same network left at its random initial weights, learning rate 0,
so its Trainer is not served from the cache) that the no-regression gate must block
against that real blessed baseline; then an ingest-only run whose summary must not
borrow the earlier runs' blessing or pushed model. Both full runs leave an evidence
report, which must render in Chromium and agree with the run summary and the Evaluator.
Then ``palsy-tfx predict`` grades media of a test subject with the pushed model, and must
see exactly what ingest stored and the model was evaluated on; and grades the same video
through TF Serving's REST and gRPC APIs, served by a loopback stand-in for TF Serving.
"""
import csv
import filecmp
import glob
import itertools
import json
import os
import subprocess
import sys

import pytest

from components.evaluation import tables
from components.model_card import card
from components.video_ingest import pseudonyms
from pipeline import configs
from pipeline.cli import main as cli
from pipeline.demo.sample_data import write_sample_data
from pipeline.runners import artifacts
from preprocessing import contract
from preprocessing.labels import GRADES
from tests import browser, markdown
from tests.conftest import write_jpeg
from tests.serving_standin import ModelServer

pytestmark = pytest.mark.slow  # runs the whole pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _run(data_dir, root, *extra):
  summary = os.path.join(root, f'summary{len(glob.glob(os.path.join(root, "summary*")))}.json')
  code = cli.main(['run', '--manifest', os.path.join(data_dir, 'manifest.csv'),
                   '--pipeline-root', root, '--model', 'demo', '--image-size', '32',
                   '--ingest-image-size', '64', '--alignment', 'five_point',
                   '--beam-arg=--direct_running_mode=multi_processing',
                   '--beam-arg=--direct_num_workers=2', '--summary-json', summary, *extra])
  assert code == 0
  with open(summary) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  base = tmp_path_factory.mktemp('full')
  data_dir = str(base / 'data')
  write_sample_data(data_dir, per_grade=3, seconds=1.6)
  root = str(base / 'pipeline')
  no_floors = ['--min-accuracy', '0', '--min-class-recall', '0',
               '--min-subject-balanced-accuracy', '0', '--min-subject-within-one', '0',
               '--min-subject-class-recall', '0']
  first = _run(data_dir, root, *no_floors, '--learning-rate', '0.001', '--epochs', '20')
  second = _run(data_dir, root, *no_floors, '--learning-rate', '0', '--epochs', '2')
  ingest_only = _run(data_dir, root, '--stop-after', 'ingest')
  return {'root': root, 'data': data_dir, 'first': first, 'second': second,
          'ingest_only': ingest_only}


def test_first_run_is_blessed_and_pushed(runs):
  first = runs['first']
  assert first['blessed'] is True and first['failed_thresholds'] == []
  pushed = first['pushed_to']
  assert pushed.startswith(os.path.join(runs['root'], 'serving', 'palsy') + os.sep)
  assert os.path.basename(pushed).isdigit()  # versioned directory, as TF Serving wants
  assert os.path.exists(os.path.join(pushed, 'saved_model.pb'))
  metrics = first['metrics']
  for grade in GRADES:
    for name in ('frame_recall', 'frame_precision', 'auc', 'subject_recall'):
      assert f'{name}[{grade}]' in metrics, (name, grade)
  assert metrics['subject_count'] == 6 and metrics['example_count'] == metrics['frame_count']
  # The subject table agrees with the subject confusion matrix beside it.
  subject = first['confusion_matrices']['subject']
  assert sum(map(sum, subject)) == 6
  assert metrics['subject_exact_accuracy'] == sum(subject[g][g] for g in range(6)) / 6
  assert os.path.exists(first['confusion_matrix_png'])


def test_saved_model_cli_shows_every_signature(runs):
  out = subprocess.run([os.path.join(BIN, 'saved_model_cli'), 'show', '--dir',
                        runs['first']['pushed_to'], '--all'],
                       capture_output=True, text=True, check=True).stdout
  assert "signature_def['serving_default']" in out and "signature_def['serving_images']" in out
  assert "signature_def['serving_explain']" in out and "outputs['heatmaps']" in out
  assert "inputs['examples']" in out and "inputs['images']" in out
  assert "outputs['probabilities']" in out and "outputs['grade']" in out


def test_fresh_process_gets_identical_probabilities_from_both_signatures(runs):
  test_split = glob.glob(os.path.join(runs['root'], 'VideoIngest', 'examples', '*',
                                      'Split-test', '*.gz'))[0]
  out = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'serving_check.py'),
                        runs['first']['pushed_to'], test_split],
                       capture_output=True, text=True, check=True,
                       env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2'}).stdout
  result = json.loads(out.strip().splitlines()[-1])
  assert {'serving_default', 'serving_images'} <= set(result['signatures'])
  assert result['shape'] == [4, 6]
  assert result['identical'] is True
  assert all(abs(s - 1) < 1e-5 for s in result['row_sums'])
  assert result['grades'] == result['grades_from_images']
  assert set(result['grades']) <= set(GRADES)


def test_no_regression_gate_blocks_a_worse_candidate(runs):
  first, second = runs['first']['metrics'], runs['second']
  worse = second['metrics']
  # The candidate really is worse than the blessed baseline, by more than the tolerance.
  assert worse['sparse_categorical_accuracy'] < first['sparse_categorical_accuracy'] - 0.01
  assert second['blessed'] is False
  assert 'pushed_to' not in second
  failed = '\n'.join(second['failed_thresholds'])
  assert ('sparse_categorical_accuracy (overall)' in failed and
          'no regression beyond 0.01 against the last blessed model' in failed), failed
  assert all('no regression' in line for line in second['failed_thresholds']), failed
  versions = os.listdir(os.path.join(runs['root'], 'serving', 'palsy'))
  assert versions == [os.path.basename(runs['first']['pushed_to'])]  # nothing new pushed


def test_an_ingest_only_run_reports_only_its_own_outputs(runs):
  ingest_only = runs['ingest_only']
  assert 'blessed' not in ingest_only and 'pushed_to' not in ingest_only
  assert 'metrics' not in ingest_only
  assert ingest_only['ingest']['subjects_per_split'] == {'train': 6, 'eval': 6, 'test': 6}


def test_training_outputs_for_people(runs):
  model_runs = sorted(glob.glob(os.path.join(runs['root'], 'Trainer', 'model_run', '*')),
                      key=lambda d: int(os.path.basename(d)))
  assert len(model_runs) == 2  # the lr-0 candidate trained anew, not from the cache
  run_dir = model_runs[0]
  with open(os.path.join(run_dir, 'history.json')) as f:
    history = json.load(f)
  assert 1 <= len(history['loss']) <= 20 and len(history['val_loss']) == len(history['loss'])
  assert os.path.getsize(os.path.join(run_dir, 'training_curves.png')) > 1000
  assert glob.glob(os.path.join(run_dir, 'logs', '**', 'events.out.tfevents.*'), recursive=True)


def test_the_pushed_model_records_how_its_faces_were_cropped(runs):
  """The crop settings travel from ingest into the served model, for prediction to follow."""
  [examples] = glob.glob(os.path.join(runs['root'], 'VideoIngest', 'examples', '*'))
  with open(os.path.join(examples, 'crop_settings.json')) as f:
    ingested = json.load(f)
  assert ingested == {'crop': {'size': 64, 'margin': 0.25, 'detect_width': 640,
                               'alignment': 'five_point', 'jpeg_quality': 95},
                      'source_fps': {'meei': 3.0, 'yfp': 6.0}, 'default_fps': 3.0}
  with open(os.path.join(runs['first']['pushed_to'], 'assets.extra', 'palsy_model.json')) as f:
    assert json.load(f)['crop_settings'] == ingested


def test_the_pushed_model_passed_the_serving_check_and_carries_its_warmup(runs):
  """The ServingCheck proved the first model in a fresh process before it was pushed, and
  the pushed version warms TF Serving up; the refused candidate was never loaded."""
  first, second = runs['first'], runs['second']
  assert first['serving_check']['passed'] is True and first['serving_check']['reason'] == ''
  with open(first['serving_check']['report']) as f:
    report = json.load(f)
  assert set(report['max_difference']) == set(contract.SIGNATURES)
  assert all(d <= 1e-5 for d in report['max_difference'].values())
  assert set(report['latency_ms']) == set(contract.SIGNATURES)
  for name in (contract.WARMUP_FILE, contract.WARMUP_RESPONSES_FILE):
    assert os.path.exists(os.path.join(first['pushed_to'], name)), name
  assert second['serving_check'] == {
      **second['serving_check'], 'passed': False,
      'reason': 'the Evaluator did not bless this model, so it was not checked'}


def test_the_pushed_version_carries_its_model_card(runs):
  """Its subject measures are the Evaluator's, its ids those in MLMD, and the sample
  data is called what it is."""
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  first = runs['first']
  with open(os.path.join(first['pushed_to'], 'assets.extra', card.CARD_FILE)) as f:
    text = f.read()
  assert text.startswith('# Model card: palsy') and card.DEMO_WARNING in text
  metrics = first['metrics']
  rows = markdown.table_rows(text, tables.LEVEL_HEADER)
  for name, label in tables.SUBJECT_MEASURES:
    cell = rows[label][0]
    assert cell == tables.format_value(metrics, f'subject_{name}', ci=True), name
    value, low, high = (float(x) for x in cell.replace('[', '').replace(']', '')
                        .replace(',', '').split())
    assert value == pytest.approx(metrics[f'subject_{name}'], abs=5e-4)
    assert (low, high) == pytest.approx((metrics[f'subject_{name}_ci_low'],
                                         metrics[f'subject_{name}_ci_high']),
                                        abs=5e-3 + 1e-9)  # 2 decimals: half a unit at most
  assert f'{metrics["subject_count"]:.0f} subjects' in text
  store = metadata_store.MetadataStore(
      artifacts.sqlite_config(configs.local_metadata_path(runs['root'])))
  ids = markdown.table_rows(text, ('artifact', 'type', 'MLMD id', 'URI'))
  for role, (type_name, mlmd_id, uri) in ids.items():
    [stored] = store.get_artifacts_by_id([int(mlmd_id)])
    assert stored.uri == uri, role
  # The card's model is the one that was pushed.
  [model_uri] = [uri for t, _, uri in ids.values() if t == 'Model']
  assert filecmp.cmp(os.path.join(model_uri, 'Format-Serving', 'saved_model.pb'),
                     os.path.join(first['pushed_to'], 'saved_model.pb'), shallow=False)
  run = markdown.table_rows(markdown.sections(text)['Provenance (ML Metadata)'], ('', ''))
  [context] = [c for c in store.get_contexts_by_type('pipeline_run')
               if c.name == run['pipeline run'][0]]
  assert int(run['model card execution'][0]) in {
      e.id for e in store.get_executions_by_context(context.id)}


def test_evaluator_numbers_equal_a_recomputation_from_the_pushed_model(runs):
  """Independent of TFMA and of components.evaluation.clinical_metrics: plain numpy on the pushed
  model's own outputs for the test split."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = glob.glob(os.path.join(runs['root'], 'VideoIngest', 'examples', '*', 'Split-test',
                                 '*.gz'))
  records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]
  parsed = [tf.train.Example.FromString(r).features.feature for r in records]
  labels = np.array([f['label'].int64_list.value[0] for f in parsed])
  subjects = [f['subject_id'].bytes_list.value[0] for f in parsed]
  serve = tf.saved_model.load(runs['first']['pushed_to']).signatures['serving_default']
  probs = serve(examples=tf.constant(records))['probabilities'].numpy()
  # A frame whose two best grades are within 1e-4 could be argmaxed either way by the
  # Evaluator's batching; the numbers must then match one of the ways (few such frames).
  order = np.argsort(probs, axis=1)
  ties = np.flatnonzero(np.take_along_axis(probs, order[:, -1:], 1)[:, 0]
                        - np.take_along_axis(probs, order[:, -2:-1], 1)[:, 0] < 1e-4)
  assert len(ties) <= 8, f'{len(ties)} near ties: the model is barely trained'
  metrics = runs['first']['metrics']
  failures = []
  for flips in itertools.product((False, True), repeat=len(ties)):
    preds = order[:, -1].copy()
    preds[ties[list(flips)]] = order[ties[list(flips)], -2]
    try:
      _check_frame_and_subject_numbers(metrics, labels, subjects, probs, preds)
      break
    except AssertionError as e:
      failures.append(e)
  else:
    raise failures[0]
  assert len(set(order[:, -1])) > 1  # a model that gives one grade to all would prove little


def _check_frame_and_subject_numbers(metrics, labels, subjects, probs, preds):
  import numpy as np  # pylint: disable=g-import-not-at-top
  for g, grade in enumerate(GRADES):
    recall = np.mean(preds[labels == g] == g)
    assert metrics[f'frame_recall[{grade}]'] == pytest.approx(recall, abs=1e-6), grade
    if (preds == g).any():
      precision = np.mean(labels[preds == g] == g)
      assert metrics[f'frame_precision[{grade}]'] == pytest.approx(precision, abs=1e-6), grade
  by_subject = {}
  for s, y, p in zip(subjects, labels, probs):
    by_subject.setdefault((s, y), []).append(p)
  correct = [int(np.argmax(np.mean(ps, axis=0)) == y) for (_, y), ps in by_subject.items()]
  assert metrics['subject_exact_accuracy'] == pytest.approx(np.mean(correct))
  assert metrics['sparse_categorical_accuracy'] == pytest.approx(np.mean(preds == labels))


def test_every_full_run_leaves_an_evidence_report(runs):
  first, second = runs['first'], runs['second']
  for run in (first, second):
    assert os.path.getsize(run['report']) > 10000
    folder = os.path.dirname(run['report'])
    assert os.path.dirname(run['confusion_matrix_png']) == folder
    for png in ('confusion_matrices.png', 'roc_curves.png', 'reliability_diagram.png',
                'training_curves.png'):
      assert os.path.getsize(os.path.join(folder, png)) > 1000, png
  assert first['report'] != second['report']
  assert 'report' not in runs['ingest_only']


def test_the_report_headline_equals_the_run_summary(runs):
  for run in (runs['first'], runs['second']):
    headline, metrics = run['report_headline'], run['metrics']
    assert headline['blessed'] == run['blessed']
    assert headline['failed_gates'] == run['failed_thresholds']
    assert headline['pushed_to'] == run.get('pushed_to')
    assert 'subject_balanced_accuracy_ci_low' in headline['metrics']
    for name, value in headline['metrics'].items():
      assert value == metrics[name], name
    # Counted from the report's own predictions; the Evaluator counted the same.
    assert headline['test_counts'] == {'subjects': metrics['subject_count'],
                                       'videos': metrics['video_count'],
                                       'frames': metrics['frame_count']}
    assert headline['examples_per_split'] == run['ingest']['examples_per_split']


def test_the_reports_predictions_reproduce_the_evaluators_subject_matrix(runs):
  first = runs['first']  # a trained model: no near ties between grades (checked above)
  headline = first['report_headline']
  assert headline['recomputed_subject_confusion'] == first['confusion_matrices']['subject']
  assert headline['agrees_with_evaluator'] is True
  with open(first['report']) as f:
    html = f.read()
  assert 'equals the Evaluator' in html and 'class="warning"' not in html
  # The frame ECE recomputed for the reliability diagram equals the Evaluator's frame_ece.
  assert "equals the Evaluator's frame_ece" in html.replace('&#x27;', "'")
  # The referral rule's coverage recomputed for the report equals the Evaluator's.
  assert "equals the Evaluator's subject_coverage" in html.replace('&#x27;', "'")


def test_the_report_of_the_refused_model_names_the_failed_gate(runs):
  with open(runs['second']['report']) as f:
    html = f.read()
  gates = html[html.index('<section id="gates">'):]
  assert 'Model NOT blessed' in html and 'Not pushed for serving.' in html
  assert '<tr class="bad"><td>change in sparse_categorical_accuracy</td>' in gates
  assert 'FAILED' in gates


@pytest.mark.parametrize('which', ['first', 'second'])
def test_the_report_renders_in_chromium_with_every_image(runs, which, tmp_path):
  rendered = browser.render(runs[which]['report'], str(tmp_path / 'report.png'))
  # Training curves, confusion matrices, ROC curves, the reliability diagram, the
  # risk-coverage curve.
  assert rendered.images == 5
  assert rendered.images_loaded == rendered.images
  assert not browser.is_blank(rendered.screenshot)


def test_palsy_tfx_report_prints_the_newest_report(runs, capsys):
  capsys.readouterr()
  assert cli.main(['report', '--pipeline-root', runs['root']]) == 0
  out = capsys.readouterr().out.splitlines()
  # The ingest-only run made none, so the newest report is the second run's.
  assert out[0] == runs['second']['report']
  assert out[1] == '  model NOT blessed'
  assert any(line.startswith('  failed gate: sparse_categorical_accuracy') for line in out)
  assert any(line.startswith('  subject balanced accuracy: ') for line in out)


def _ingested_test_media(runs, key):
  """The test split's examples, by manifest row: ``{row: {timestamp_ms: example}}``.
  An example names its file only by a keyed hash (``video_id``), so the manifest's
  paths are hashed the same way, with the run's pseudonym ``key``, to find which file
  each came from."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with open(os.path.join(runs['data'], 'manifest.csv'), newline='') as f:
    rows = {pseudonyms.video_id(key, row['path']): row
            for row in csv.DictReader(f)}
  files = glob.glob(os.path.join(runs['root'], 'VideoIngest', 'examples', '*', 'Split-test',
                                 '*.gz'))
  by_row = {}
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
    feature = tf.train.Example.FromString(record.numpy()).features.feature
    row = rows[feature['video_id'].bytes_list.value[0].decode()]
    stamp = feature['timestamp_ms'].int64_list.value[0]
    by_row.setdefault(row['path'], (row, {}))[1][stamp] = record.numpy()
  return by_row


@pytest.fixture(scope='module')
def predicted(runs, tmp_path_factory, no_face_images, pseudonym_key):
  """``palsy-tfx predict`` as a user runs it, in a fresh process, on a test subject's
  video and still, an image without a face and a missing file."""
  ingested = _ingested_test_media(runs, pseudonym_key)
  video = sorted(p for p in ingested if p.endswith('.mp4'))[0]
  row = ingested[video][0]
  [still] = [p for p, (r, _) in ingested.items()
             if r['subject_id'] == row['subject_id'] and p != video]
  tmp = tmp_path_factory.mktemp('predict')
  coffee = str(tmp / 'coffee.png')
  write_jpeg(coffee, no_face_images['coffee'])
  paths = [os.path.join(runs['data'], video), os.path.join(runs['data'], still), coffee,
           str(tmp / 'missing.mp4')]
  done, results = _predict_process(paths, str(tmp / 'predicted.json'), '--model',
                                   runs['first']['pushed_to'], '--source', row['source'])
  return {'done': done, 'paths': paths, 'results': results, 'source': row['source'],
          'ingested': [ingested[video][1], ingested[still][1]]}


def _predict_process(paths, out_json, *flags):
  """``palsy-tfx predict PATHS... FLAGS --output-json OUT_JSON`` in a fresh process, as a
  user runs it; its CompletedProcess and the JSON it wrote."""
  done = subprocess.run(
      [os.path.join(BIN, 'palsy-tfx'), 'predict', *paths, *flags, '--output-json', out_json],
      capture_output=True, text=True, timeout=600,
      env={**os.environ, 'PYTHONPATH': os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')])})
  with open(out_json) as f:
    return done, json.load(f)


def test_predict_grades_the_pushed_model_end_to_end(predicted):
  done, results = predicted['done'], predicted['results']
  assert done.returncode == 0, done.stderr
  assert [r['path'] for r in results] == predicted['paths']
  assert [r['error'] for r in results] == [None, None, 'no face found in the still',
                                           'file not found']
  for graded in results[:2]:
    assert graded['grade'] in GRADES and len(graded['probabilities']) == 6
    assert sum(graded['probabilities']) == pytest.approx(1, abs=1e-5)
    assert graded['faces_found'] == len([f for f in graded['frames'] if f['face_box']]) > 0
  table = done.stdout.splitlines()
  assert table[0].startswith('input') and table[-1].startswith('2 of 4 inputs graded')
  assert all(any(line.startswith(p) for line in table) for p in predicted['paths'])
  finished = [line for line in done.stderr.splitlines()
              if line.startswith('[predict] ') and line.endswith(' elapsed]')]
  assert len(finished) == 4 and 'NOT GRADED: file not found' in finished[3]


def test_predict_sees_exactly_what_the_model_was_evaluated_on(runs, predicted):
  """No training/serving skew: for a test video and still that went through ingest, the
  same frames, the same face boxes, and per frame the probabilities that serving_default
  gives on the ingested examples (matched by timestamp), within 1e-4."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  serve = tf.saved_model.load(runs['first']['pushed_to']).signatures['serving_default']
  for result, examples in zip(predicted['results'], predicted['ingested']):
    frames = {f['timestamp_ms']: f for f in result['frames'] if f['face_box']}
    assert sorted(frames) == sorted(examples), result['path']
    stamps = sorted(examples)
    served = serve(examples=tf.constant([examples[t] for t in stamps]))['probabilities'].numpy()
    ours = np.array([frames[t]['probabilities'] for t in stamps])
    assert np.abs(ours - served).max() <= 1e-4, result['path']
    for t in stamps:
      stored = tf.train.Example.FromString(examples[t]).features.feature['face_box']
      assert frames[t]['face_box'] == pytest.approx(list(stored.float_list.value), abs=1e-6)
    # And the file's grade is the Evaluator's video grade: the mean, then the argmax.
    assert np.abs(np.array(result['probabilities']) - served.mean(axis=0)).max() <= 1e-4
    assert result['grade'] == GRADES[int(served.mean(axis=0).argmax())]


@pytest.fixture(scope='module')
def served(runs):
  """The pushed model behind a loopback STAND-IN for TF Serving (tests/serving_standin.py):
  no TF Serving binary or container engine exists on these machines. It serves every
  version in the Pusher's destination, as TF Serving's model base path, over REST and gRPC
  on TF Serving's protocols, answering from the pushed SavedModel."""
  with ModelServer(os.path.dirname(runs['first']['pushed_to']), 'palsy') as server:
    yield server


@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_tf_serving_clients_grade_a_video_as_the_pushed_model(runs, predicted, served, kind,
                                                              tmp_path):
  """``palsy-tfx predict --rest``/``--grpc`` on the test video, the crop settings read from
  the pushed version (``--model-info``): the same frames and per frame the probabilities of
  ``predict --model``, within 1e-5."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  where = ['--rest', served.rest_url] if kind == 'rest' else ['--grpc', served.grpc_target]
  video, local = predicted['paths'][0], predicted['results'][0]
  done, [result] = _predict_process([video], str(tmp_path / f'{kind}.json'), *where,
                                    '--model-info', runs['first']['pushed_to'],
                                    '--source', predicted['source'])
  assert done.returncode == 0, done.stderr
  assert result['error'] is None and result['grade'] == local['grade']
  assert ([(f['timestamp_ms'], f['face_box']) for f in result['frames']] ==
          [(f['timestamp_ms'], f['face_box']) for f in local['frames']])
  with_face = [(f['probabilities'], g['probabilities'])
               for f, g in zip(result['frames'], local['frames']) if g['face_box']]
  assert with_face and all(p is not None for p, _ in with_face)
  assert np.abs(np.array([p for p, _ in with_face]) -
                np.array([q for _, q in with_face])).max() <= 1e-5
  requests = served.rest_requests if kind == 'rest' else served.grpc_requests
  assert requests  # the grades came over the wire, from the stand-in
