"""``palsy-tfx grade-archive`` on Beam's DirectRunner against ``predict`` on the same files:
real media, real dlib, the real crop, a real SavedModel (``tests.tiny_model``), real
RunInference. The labels are chosen from ``predict``'s own grades so that the subject
metrics are known by hand."""
import json
import os

import numpy as np
import pytest

from components.evaluation import clinical_metrics
from pipeline.cli import main as cli
from pipeline.monitor import graded as monitor_graded
from pipeline.predict import archive, grade, saved_model
from preprocessing import crop_settings, referral, transient
from preprocessing.labels import GRADES
from tests import tiny_model
from tests.archive_fixtures import GOOD, read_lines, write_media

pytestmark = pytest.mark.slow  # exports a model and runs Beam pipelines

BEAM = ['--direct_num_workers=1', '--direct_running_mode=in_memory']
KEY = {'PALSY_PSEUDONYM_KEY': 'k' * 32}
def _predict(model, paths):
  info = crop_settings.read_model_info(model)
  return grade.predict_files(paths, saved_model.SavedModelGrader(model),
                             crop_settings.from_info(info, model), 'yfp',
                             rules=referral.Rules.from_model(info))


def _subject_grade(predictions) -> int:
  """The Evaluator's rule by hand: the argmax of the mean of all the subject's frames."""
  rows = [f.probabilities for p in predictions for f in p.frames if f.probabilities]
  return int(np.argmax(np.mean(rows, axis=0)))


@pytest.fixture(scope='module')
def graded(tmp_path_factory, no_face_images):
  root = tmp_path_factory.mktemp('archive')
  model = tiny_model.save(str(root / 'model' / '1'))
  data = root / 'data'
  data.mkdir()
  write_media(data, no_face_images)
  names = [name for files in GOOD.values() for name in files]
  by_name = dict(zip(names, _predict(model, [str(data / n) for n in names])))
  truth = {s: _subject_grade([by_name[n] for n in GOOD[s]]) for s in ('s1', 's2', 's3')}
  # s1 and s2 labelled with their grade, s3 three grades away: exact 2/3, MAE 3/3.
  labels = {'s1': truth['s1'], 's2': truth['s2'], 's3': (truth['s3'] + 3) % 6}
  rows = ['path,subject_id,label,source']
  for subject in ('s1', 's2', 's3'):
    rows += [f'{n},{subject},{GRADES[labels[subject]]},yfp' for n in GOOD[subject]]
  rows += ['d.mp4,,,yfp',                        # row 6: graded, not scored
           'coffee.png,s4,normal,yfp',           # row 7: no face
           'notes.mp4,s5,normal,yfp',            # row 8: not a video
           'missing.mp4,s6,normal,yfp',          # row 9: refused on the driver
           's2.mp4,s2,grade seven,yfp']          # row 10: an unknown label
  (data / 'manifest.csv').write_text('\n'.join(rows) + '\n')
  out = str(root / 'out')
  summary = archive.grade_archive(str(data / 'manifest.csv'), model, out, BEAM, environ=KEY)
  return dict(model=model, data=data, out=out, summary=summary, by_name=by_name,
              lines=read_lines(out), truth=truth, labels=labels)


def test_the_archive_is_graded_as_predict_grades_it(graded):
  rows = {2: 's1_a.mp4', 3: 's1_b.jpg', 4: 's2.mp4', 5: 's3.mp4', 6: 'd.mp4'}
  for row, name in rows.items():
    line, expected = graded['lines'][row], graded['by_name'][name].as_json()
    assert line['error'] is None and expected['error'] is None, name
    assert line['grade'] == expected['grade'], name
    assert (line['frames_sampled'], line['faces_found']) == (
        expected['frames_sampled'], expected['faces_found']), name
    assert line['refer'] == expected['refer'] and line['refer_reasons'] == expected['refer_reasons']
    np.testing.assert_allclose(line['probabilities'], expected['probabilities'], atol=1e-5)
    assert len(line['frames']) == len(expected['frames']) > 0
    for got, want in zip(line['frames'], expected['frames']):
      assert got['timestamp_ms'] == want['timestamp_ms']
      assert got['face_box'] == want['face_box']
      assert got['descriptors'] == want['descriptors']
      if want['probabilities'] is None:
        assert got['probabilities'] is None
      else:
        np.testing.assert_allclose(got['probabilities'], want['probabilities'], atol=1e-5)
        assert got['ood_score'] == pytest.approx(want['ood_score'], abs=1e-4)
  assert sum(f['face_box'] is not None for r in rows for f in graded['lines'][r]['frames']) >= 20


def test_each_line_carries_its_row_pseudonyms_and_label(graded):
  lines = graded['lines']
  assert sorted(lines) == [2, 3, 4, 5, 6, 7, 8]  # refused rows never reach the workers
  assert lines[2]['subject_id'] == lines[3]['subject_id'] != lines[4]['subject_id']
  assert lines[6]['subject_id'] is None and lines[6]['label'] is None
  assert lines[4]['label'] == GRADES[graded['labels']['s2']]
  assert len({line['video_id'] for line in lines.values()}) == 7
  assert 's1' not in json.dumps({r: l['subject_id'] for r, l in lines.items()})


def test_bad_rows_are_named_with_the_reason_and_the_rest_graded(graded):
  summary = graded['summary']
  assert (summary['manifest_rows'], summary['graded'], summary['not_graded']) == (9, 5, 4)
  reasons = {r['row']: r['reason'] for r in summary['not_graded_rows']}
  assert sorted(reasons) == [7, 8, 9, 10]
  assert 'no face' in reasons[7]
  assert '<row 8>' in reasons[8] or 'notes.mp4' not in reasons[8]
  assert reasons[9] == 'row 9: file not found'
  assert 'grade seven' in reasons[10]
  assert graded['lines'][8]['error'] and graded['lines'][8]['grade'] is None
  # Shared pages name rows and pseudonyms: no path of this machine in the summary.
  with open(os.path.join(graded['out'], archive.SUMMARY_FILE)) as f:
    text = f.read()
  assert str(graded['data']) not in text and 'notes.mp4' not in text
  assert not os.path.exists(os.path.join(graded['out'], archive.WORK))


def test_the_subject_metrics_are_the_evaluators_on_the_labelled_subjects(graded):
  metrics = graded['summary']['subject_metrics']
  # By hand: s1 and s2 right, s3 three grades off.
  assert metrics['count'] == 3 and graded['summary']['labelled_subjects'] == 3
  assert metrics['exact_accuracy']['value'] == pytest.approx(2 / 3)
  assert metrics['within_one_accuracy']['value'] == pytest.approx(2 / 3)
  assert metrics['mae']['value'] == pytest.approx(1.0)
  assert np.trace(metrics['confusion_matrix']) == 2
  # Cross-check: the Evaluator's aggregate and summarise on the frames of the JSON lines.
  ids, labels, rows = [], [], []
  for line in graded['lines'].values():
    if line['label'] and line['subject_id']:
      for frame in line['frames']:
        if frame['probabilities']:
          ids.append(line['subject_id'])
          labels.append(GRADES.index(line['label']))
          rows.append(frame['probabilities'])
  pooled_labels, pooled, _ = clinical_metrics.aggregate(ids, labels, rows)
  expected = clinical_metrics.summarise(pooled_labels, pooled)
  for name in ('exact_accuracy', 'balanced_accuracy', 'quadratic_weighted_kappa', 'ece'):
    for part in ('value', 'ci_low', 'ci_high'):
      assert metrics[name][part] == pytest.approx(expected[name][part], abs=1e-9), name
  subjects = {s['subject']: s for s in graded['summary']['subjects']}
  assert len(subjects) == 3
  assert sorted(s['grade'] == s['label'] for s in subjects.values()) == [False, True, True]


def test_the_monitor_reads_the_archive_by_row_and_pseudonym(graded):
  read = monitor_graded.read(graded['out'], environ=KEY)
  assert sorted(i.row for i in read.inputs) == [2, 3, 4, 5, 6]
  assert read.not_graded == 2 and read.skipped == [os.path.join(graded['out'],
                                                                archive.SUMMARY_FILE)]
  assert {i.pseudonym for i in read.inputs} == {graded['lines'][r]['video_id']
                                                for r in (2, 3, 4, 5, 6)}


def test_an_output_folder_with_a_grading_is_refused(graded, tmp_path):
  with pytest.raises(archive.ArchiveError, match='already holds a grading'):
    archive.grade_archive(str(graded['data'] / 'manifest.csv'), graded['model'],
                          graded['out'], BEAM, environ=KEY)


def _one_row(graded):
  manifest = graded['data'] / 'one.csv'
  manifest.write_text('path,subject_id,label,source\ns3.mp4,s3,normal,yfp\n')
  return str(manifest)


def test_a_transient_fault_is_retried_then_stops_the_run(graded, tmp_path, monkeypatch):
  manifest = _one_row(graded)
  real, calls = grade.sample, []

  def flaky(result, *args, **kwargs):
    calls.append(result.path)
    if len(calls) < 2:
      raise TimeoutError('read timed out')
    return real(result, *args, **kwargs)

  monkeypatch.setattr(grade, 'sample', flaky)
  summary = archive.grade_archive(manifest, graded['model'], str(tmp_path / 'once'), BEAM,
                                  environ=KEY, backoff_s=0)
  assert summary['graded'] == 1 and len(calls) == 2

  def down(result, *args, **kwargs):
    raise TimeoutError('read timed out')

  monkeypatch.setattr(grade, 'sample', down)
  with pytest.raises(Exception) as raised:
    archive.grade_archive(manifest, graded['model'], str(tmp_path / 'down'), BEAM,
                          environ=KEY, backoff_s=0)
  assert f'still failing after {transient.RETRIES} tries' in str(raised.value)
  assert 'row 2 (video ' in str(raised.value)
  assert not os.path.exists(tmp_path / 'down' / archive.SUMMARY_FILE)


def test_the_command_prints_the_summary_and_exits_by_outcome(graded, tmp_path, capsys):
  manifest = str(graded['data'] / 'manifest.csv')
  args = ['grade-archive', '--manifest', manifest, '--model', graded['model']]
  beam = [f'--beam-arg={a}' for a in BEAM]
  assert cli.main(args + ['--output', str(tmp_path / 'cli')] + beam) == 0
  out = capsys.readouterr().out
  assert '[grade-archive] 9 manifest rows: 5 graded, 4 not graded' in out
  assert 'not graded: row 9 (video ' in out and 'file not found' in out
  assert 'subject level, 3 labelled subjects' in out and 'exact accuracy 0.667' in out
  assert cli.main(args[:-1] + [str(tmp_path / 'nowhere'), '--output',
                               str(tmp_path / 'x')] + beam) == 2
  assert 'palsy-tfx grade-archive: error: ' in capsys.readouterr().err
