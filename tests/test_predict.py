"""``pipeline.predict.grade`` and its outputs, with a grader whose answers are known by hand
(``tests.fake_grader``) on real media, real dlib and the real crop."""
import csv
import dataclasses
import json
import os

import numpy as np
import pytest

from pipeline.predict import grade, output
from preprocessing import descriptors, referral
from preprocessing.crop_settings import CropRecord, CropSettings
from preprocessing.labels import GRADES
from preprocessing.media_writer import write_video
from tests.conftest import subject_frames, write_jpeg
from tests.fake_grader import ROWS, CyclingGrader

RECORD = CropRecord(CropSettings(size=64), {'yfp': 5.0}, 2.0)
# 10 frames with a face at 5 fps: the grader's rows A B C A B C A B C A, so 4 A, 3 B,
# 3 C. By hand, column by column, (4 A + 3 B + 3 C) / 10:
MEAN_4A_3B_3C = [(2.8 + 0.3 + 0.0) / 10, (0.4 + 0.3 + 0.0) / 10, (0.4 + 2.1 + 0.9) / 10,
                 (0.4 + 0.3 + 1.5) / 10, (0.0 + 0.0 + 0.3) / 10, (0.0 + 0.0 + 0.3) / 10]


@pytest.fixture(scope='module')
def media(tmp_path_factory, no_face_images):
  root = tmp_path_factory.mktemp('media')
  paths = {name: str(root / name) for name in (
      'face.mp4', 'half.mp4', 'still.jpg', 'coffee.png', 'notes.mp4', 'zero.mp4',
      'clip.gif', 'missing.mp4', 'cut.mkv')}
  write_video(paths['face.mp4'], subject_frames(2, 50, seed=3), fps=25)  # 2 s
  coffee = np.ascontiguousarray(no_face_images['coffee'][:160, :200])
  write_video(paths['half.mp4'], subject_frames(2, 30, seed=3) + [coffee] * 20, fps=25)
  write_jpeg(paths['still.jpg'], subject_frames(4, 1, seed=8)[0])
  write_jpeg(paths['coffee.png'], no_face_images['coffee'])
  with open(paths['notes.mp4'], 'w') as f:
    f.write('clinic notes, not a video\n' * 20)
  open(paths['zero.mp4'], 'wb').close()
  open(paths['clip.gif'], 'wb').write(b'GIF89a')
  write_video(paths['cut.mkv'] + '.full.mkv', subject_frames(2, 75, seed=7), fps=25,
              codec='mjpeg')
  data = open(paths['cut.mkv'] + '.full.mkv', 'rb').read()
  open(paths['cut.mkv'], 'wb').write(data[:len(data) // 2])
  return paths


def test_the_grade_is_the_argmax_of_the_mean_of_the_frames(media):
  grader = CyclingGrader()
  result = grade.predict_file(media['face.mp4'], grader, RECORD, source='yfp')
  assert result.error is None
  assert result.frames_sampled == result.faces_found == 10
  assert grader.calls == [10]  # the frames of a video go to the model in one call
  assert result.probabilities == pytest.approx(MEAN_4A_3B_3C, abs=1e-6)
  # mild by the mean (0.34 against 0.31), though most frames alone say normal (4 of 10).
  assert result.grade == 'mild'
  assert np.allclose([f.probabilities for f in result.frames], ROWS[np.arange(10) % 3])
  assert [f.timestamp_ms // 200 for f in result.frames] == list(range(10))  # at 5 fps


def test_the_source_picks_the_models_sampling_rate(media):
  for source, n in (('YFP', 10), ('meei', 4), (None, 4)):  # 5 fps, else the default 2
    assert grade.predict_file(media['face.mp4'], CyclingGrader(), RECORD,
                                source).frames_sampled == n, source


def test_frames_without_a_face_are_listed_but_not_graded(media):
  result = grade.predict_file(media['half.mp4'], CyclingGrader(), RECORD, 'yfp')
  assert (result.frames_sampled, result.faces_found, result.frames_without_face) == (10, 6, 4)
  faceless = [f for f in result.frames if f.face_box is None]
  assert len(faceless) == 4 and all(f.probabilities is None for f in faceless)
  # 6 faces: A B C A B C, so the mean is (A + B + C) / 3.
  assert result.probabilities == pytest.approx(ROWS.mean(axis=0), abs=1e-6)
  assert result.grade == GRADES[int(np.argmax(ROWS.mean(axis=0)))] == 'mild'


def test_a_long_video_is_graded_in_batches(media):
  grader = CyclingGrader()
  result = grade.predict_file(media['face.mp4'], grader, RECORD, 'yfp', max_batch=4)
  assert grader.calls == [4, 4, 2]
  # Each batch starts the cycle again: A B C A | A B C A | A B.
  rows = [0, 1, 2, 0, 0, 1, 2, 0, 0, 1]
  assert result.probabilities == pytest.approx(ROWS[rows].mean(axis=0), abs=1e-6)


@pytest.mark.parametrize('name,reason', [
    ('coffee.png', 'no face found in the still'),
    ('notes.mp4', 'cannot open video'),
    ('zero.mp4', 'zero-byte file'),
    ('clip.gif', 'unsupported extension'),
    ('missing.mp4', 'file not found'),
    ('cut.mkv', 'truncated video'),
])
def test_a_bad_input_gets_a_clear_reason_and_no_grade(media, name, reason):
  grader = CyclingGrader()
  result = grade.predict_file(media[name], grader, RECORD)
  assert reason in result.error
  assert result.grade is None and result.probabilities is None
  assert all(f.probabilities is None for f in result.frames)
  assert grader.calls == []  # nothing was sent to the model


def test_a_cut_video_lists_the_frames_read_before_the_break(media):
  result = grade.predict_file(media['cut.mkv'], CyclingGrader(), RECORD, 'yfp')
  assert result.frames_sampled == len(result.frames) > 0 and result.faces_found > 0


def test_a_grader_that_answers_for_fewer_crops_is_an_error(media):
  class Short(CyclingGrader):
    def scores(self, jpegs):
      found = super().scores(jpegs)
      return found._replace(probabilities=found.probabilities[:-1])
  result = grade.predict_file(media['face.mp4'], Short(), RECORD, 'yfp')
  assert result.error == 'ValueError: the grader answered (9, 6) for 10 crops, not (10, 6)'
  assert result.grade is None


def test_the_other_inputs_are_still_graded_in_order(media):
  names = ['coffee.png', 'face.mp4', 'missing.mp4', 'still.jpg']
  results = grade.predict_files([media[n] for n in names], CyclingGrader(), RECORD, 'yfp')
  assert [r.path for r in results] == [media[n] for n in names]
  assert [r.error is None for r in results] == [False, True, False, True]
  still = results[3]
  assert (still.frames_sampled, still.faces_found) == (1, 1)
  assert still.probabilities == pytest.approx(ROWS[0]) and still.grade == 'normal'


def test_the_json_contract(media, tmp_path):
  results = grade.predict_files([media['half.mp4'], media['coffee.png']], CyclingGrader(),
                                  RECORD, 'yfp')
  out = str(tmp_path / 'out.json')
  output.write_json(results, out)
  with open(out) as f:
    graded, failed = json.load(f)
  keys = {'path', 'grade', 'probabilities', 'confidence', 'ood_score', 'ood_share', 'refer',
          'refer_reasons', 'frames_sampled', 'faces_found', 'error', 'frames'}
  assert set(graded) == set(failed) == keys
  # A model without the guard, and rules that refer only for too few faces (6 found).
  assert graded['confidence'] == pytest.approx(max(graded['probabilities']))
  assert (graded['refer'], graded['refer_reasons']) == (False, [])
  assert graded['ood_score'] is None and graded['ood_share'] is None
  assert all(failed[k] is None for k in ('confidence', 'refer', 'refer_reasons'))
  assert graded['path'] == media['half.mp4'] and graded['error'] is None
  assert graded['grade'] == 'mild' and len(graded['probabilities']) == 6
  assert (graded['frames_sampled'], graded['faces_found']) == (10, 6)
  assert len(graded['frames']) == 10
  for frame in graded['frames']:
    assert set(frame) == {'timestamp_ms', 'face_box', 'probabilities', 'ood_score',
                          'descriptors'}
    assert frame['ood_score'] is None
    # What the model saw, for palsy-tfx monitor (preprocessing.descriptors).
    assert (frame['descriptors'] is None) == (frame['face_box'] is None)
    assert isinstance(frame['timestamp_ms'], int)
    if frame['face_box'] is None:
      assert frame['probabilities'] is None
    else:
      ymin, xmin, ymax, xmax = frame['face_box']
      assert 0 <= ymin < ymax <= 1 and 0 <= xmin < xmax <= 1
      assert len(frame['probabilities']) == 6
      assert list(frame['descriptors']) == list(descriptors.FRAME_KEYS)
      assert 0 < frame['descriptors']['face_size'] <= 1
      assert 0 < frame['descriptors']['brightness'] < 255
  assert failed['error'] == 'no face found in the still'
  assert failed['grade'] is None and failed['probabilities'] is None
  assert (failed['frames_sampled'], failed['faces_found']) == (1, 0)


def test_the_frames_csv_has_one_row_per_sampled_frame(media, tmp_path):
  results = grade.predict_files([media['half.mp4'], media['still.jpg']], CyclingGrader(),
                                  RECORD, 'yfp')
  out = str(tmp_path / 'frames.csv')
  output.write_frames_csv(results, out)
  with open(out, newline='') as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == output.FRAME_COLUMNS
  assert len(rows) == 11
  with_face = [r for r in rows if r['face_ymin']]
  assert len(with_face) == 7
  first = with_face[0]
  assert [float(first[f'p_{g}']) for g in GRADES] == pytest.approx(ROWS[0])
  assert first['grade'] == 'normal' and with_face[1]['grade'] == 'mild'
  assert all(r['grade'] == '' and r['p_normal'] == '' for r in rows if not r['face_ymin'])
  assert all(r['ood_score'] == '' for r in rows)  # a model without the guard
  assert float(first['sharpness']) > 0 and float(first['face_size']) > 0
  assert all(r['brightness'] == '' for r in rows if not r['face_ymin'])
  assert rows[-1]['path'] == media['still.jpg'] and rows[-1]['timestamp_ms'] == '0'


def test_the_table_shows_every_input_and_why_one_was_not_graded(media):
  results = grade.predict_files([media['face.mp4'], media['coffee.png']], CyclingGrader(),
                                  RECORD, 'yfp')
  table = output.format_table(results)
  lines = table.splitlines()
  assert lines[0].split()[:3] == ['input', 'grade', 'I']
  assert lines[1].split() == [media['face.mp4'], 'mild', '(HB', 'III)', '0.31', '0.07',
                              '0.34', '0.22', '0.03', '0.03', '0.34', '10', '10', '0', 'ok']
  assert lines[2].split()[:2] == [media['coffee.png'], 'NOT']
  assert lines[2].split()[-4:] == ['1', '0', '1', '-']
  assert f'  {media["coffee.png"]}: no face found in the still' in lines
  assert lines[-1].startswith('1 of 2 inputs graded, 0 of them to refer')


class GuardedGrader(CyclingGrader):
  """CyclingGrader's rows with out-of-distribution scores 1, 2, 3, 1, 2, 3, ..."""

  def scores(self, jpegs):
    found = super().scores(jpegs)
    return found._replace(ood_scores=(np.arange(len(jpegs)) % 3 + 1).astype(np.float32))


def test_a_referred_input_says_so_with_its_reasons_in_the_table_and_the_json(media):
  # face.mp4: 10 faces scored 1,2,3,1,2,3,1,2,3,1 (median 2); over 2.5: 3 of 10 = 0.3.
  guard = referral.Rules(ood_threshold=2.5, max_ood_share=0.3)
  result = grade.predict_file(media['face.mp4'], GuardedGrader(), RECORD, 'yfp', rules=guard)
  assert (result.trust.ood_share, result.trust.ood_score) == (pytest.approx(0.3), 2.0)
  top = result.trust.confidence
  assert top == pytest.approx(0.34, abs=1e-6)  # (4 x 0.1 + 3 x 0.7 + 3 x 0.3) / 10
  inside = dataclasses.replace(guard, min_confidence=top)
  result = grade.predict_file(media['face.mp4'], GuardedGrader(), RECORD, 'yfp', rules=inside)
  assert not result.trust.refer  # each threshold met exactly
  strict = referral.Rules(ood_threshold=2.5, max_ood_share=0.29, min_confidence=top + 1e-6)
  result = grade.predict_file(media['face.mp4'], GuardedGrader(), RECORD, 'yfp', rules=strict)
  assert result.as_json()['refer_reasons'] == [referral.OUT_OF_DISTRIBUTION,
                                               referral.LOW_CONFIDENCE]
  assert [f['ood_score'] for f in result.as_json()['frames']] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
  row = output.format_table([result]).splitlines()[1]
  assert row.endswith('REFER: out of distribution; low confidence')
  assert '1 of 1 inputs graded, 1 of them to refer' in output.format_table([result])


def test_progress_names_each_input_and_speaks_up_during_a_long_one():
  lines, now = [], [0.0]
  progress = output.Progress(2, interval=10, write=lines.append, clock=lambda: now[0])
  result = grade.Prediction('long.mp4', frames_sampled=5, faces_found=4)
  progress.frame(0, result)
  assert lines == []  # nothing to say before the interval has passed
  now[0] = 12.0
  progress.frame(0, result)
  assert lines == ['[predict] 1/2 long.mp4: 5 frames sampled, 4 faces so far, '
                   '0:00:12 elapsed']
  result.grade, result.probabilities = 'severe', [0, 0, 0, 0.1, 0.8, 0.1]
  result.trust = referral.decide(result.probabilities, None, 4, 5, referral.Rules())
  progress.done(0, result)
  progress.done(1, grade.Prediction('x.gif', error='unsupported extension'))
  assert lines[1:] == [
      '[predict] 1/2 long.mp4: 5 frames sampled, 4 faces, grade severe (0.80), ok '
      '[0:00:12 elapsed]',
      '[predict] 2/2 x.gif: 0 frames sampled, 0 faces, NOT GRADED: unsupported extension '
      '[0:00:12 elapsed]']
