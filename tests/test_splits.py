"""Stratified subject splits: the block rule by hand, stability, and the test-split check."""
import collections
import json
import random

import pytest

from components.video_ingest import component, manifest, splits, summary
from components.video_ingest.manifest import Item
from preprocessing.labels import GRADES


def _item(subject, grade, row=0):
  # Paths that do not exist: whatever reads them before the split check fails loudly.
  return Item(row, f'/nonexistent/{subject}-{row}.mp4', f'{subject}-{row}.mp4', subject,
              grade, 'meei', '', 'video')


def _sizes(split_of):
  counts = collections.Counter(split_of.values())
  return tuple(counts[name] for name in splits.SPLIT_NAMES)


def _one_grade(n, prefix='s'):
  return {f'{prefix}{k}': 2 for k in range(n)}


@pytest.mark.parametrize('n,expected', [
    # 0.7/0.15/0.15, cumulative C = 0.7, 0.85, 1; block ends b = floor(n*C + 1/2),
    # then b_k = max(b_{k-1} + 1, min(b, n - (m - 1 - k))) with m = 3.
    (1, (1, 0, 0)),     # n < 3: by priority, train first
    (2, (1, 0, 1)),     # ... then test
    (3, (1, 1, 1)),     # rounded ends 2.6 -> 2, 3.05 -> 3; capped at 1, 2: one each
    (4, (2, 1, 1)),     # rounded ends 3.3 -> 3, 3.9 -> 3; train capped at 4 - 2 = 2
    (10, (7, 2, 1)),    # 7.5 -> 7, 9.0 -> 9: the half at 8.5 rounds up, to eval
    (100, (70, 15, 15)),
])
def test_block_sizes_by_hand(n, expected):
  assert _sizes(splits.assign_splits(_one_grade(n))) == expected


@pytest.mark.parametrize('n', [1, 2, 3, 4, 10])
def test_blocks_are_contiguous_in_hash_order(n):
  split_of = splits.assign_splits(_one_grade(n))
  ordered = sorted(split_of, key=splits.hash_point)
  names = [split_of[s] for s in ordered]
  assert names == sorted(names, key=splits.SPLIT_NAMES.index)


def test_zero_ratio_for_eval():
  ratios = (0.8, 0, 0.2)
  # train/test only: C = 0.8, 1. n=1: train by priority. n=2: floor(2.1) = 2, capped
  # at 2 - 1 = 1. n=10: floor(8.5) = 8.
  assert [_sizes(splits.assign_splits(_one_grade(n), ratios)) for n in (1, 2, 10)] == [
      (1, 0, 0), (1, 0, 1), (8, 0, 2)]
  assert splits.block_ends(10, splits.active_splits(ratios)) == [8, 10]


def test_priority_fills_train_then_test_then_eval():
  assert splits.priority_ends(0, ['train', 'eval', 'test']) == [0, 0, 0]
  assert splits.priority_ends(1, ['train', 'eval', 'test']) == [1, 1, 1]
  assert splits.priority_ends(2, ['train', 'eval', 'test']) == [1, 1, 2]
  assert splits.priority_ends(1, ['eval', 'test']) == [0, 1]  # no train: test first


def test_ratios_are_read_as_written():
  # 10 * (0.7 + 0.15) is 8.5 only in exact arithmetic; the half must round up.
  assert splits.cumulative_ends(10, [s for _, s in splits.active_splits((0.7, 0.15, 0.15))]
                                ) == [7, 9, 10]
  assert splits.active_splits((7, 1.5, 1.5)) == splits.active_splits((0.7, 0.15, 0.15))


@pytest.mark.parametrize('ratios', [(0.7, 0.15, 0.15), (0.8, 0, 0.2), (0, 0.5, 0.5),
                                    (1, 0, 0), (0.6, 0.25, 0.15), (0.34, 0.33, 0.33),
                                    (0.98, 0.01, 0.01)])
def test_block_ends_never_fall_and_grow_by_at_most_one(ratios):
  """The lemma behind stability: one more subject moves each boundary by 0 or 1."""
  active = splits.active_splits(ratios)
  previous = splits.block_ends(0, active)
  for n in range(1, 300):
    ends = splits.block_ends(n, active)
    assert ends[-1] == n
    assert all(0 <= e - p <= 1 for e, p in zip(ends, previous)), (n, previous, ends)
    if n >= len(active):
      sizes = [e - s for s, e in zip([0] + ends, ends)]
      assert min(sizes) >= 1, (n, sizes)  # every active split has a subject
    previous = ends


def test_every_grade_reaches_every_split_from_three_subjects():
  rng = random.Random(7)
  per_grade = {0: 1, 1: 2, 2: 3, 3: 5, 4: 12, 5: 40}
  grades = {f'{rng.getrandbits(64):016x}': g for g, n in per_grade.items() for _ in range(n)}
  split_of = splits.assign_splits(grades)
  by_grade = collections.defaultdict(collections.Counter)
  for subject, split in split_of.items():
    by_grade[grades[subject]][split] += 1
  assert by_grade[0] == {'train': 1}
  assert by_grade[1] == {'train': 1, 'test': 1}
  for g in (2, 3, 4, 5):
    assert set(by_grade[g]) == set(splits.SPLIT_NAMES), (g, by_grade[g])


def test_deterministic_and_disjoint():
  rng = random.Random(3)
  grades = {f'id-{rng.getrandbits(32)}': rng.randrange(6) for _ in range(60)}
  shuffled = list(grades.items())
  rng.shuffle(shuffled)
  split_of = splits.assign_splits(grades)
  assert splits.assign_splits(dict(shuffled)) == split_of
  assert set(split_of) == set(grades)  # every subject, each in exactly one split
  assert set(split_of.values()) == set(splits.SPLIT_NAMES)


def test_stability_when_the_manifest_grows_one_subject_at_a_time():
  rng = random.Random(2024)
  grades, moves = {}, []
  split_of = splits.assign_splits(grades)
  for _ in range(400):
    new, grade = f'{rng.getrandbits(64):016x}', rng.choice([0, 1, 1, 2, 3, 3, 3, 4, 5])
    grades[new] = grade
    after = splits.assign_splits(grades)
    moved = [s for s in split_of if after[s] != split_of[s]]
    assert len(moved) <= 2, moved  # at most one per boundary, m - 1 = 2
    assert all(grades[s] == grade for s in moved)  # other grades never move
    moves.append(len(moved))
    split_of = after
  print(f'moves per addition: max {max(moves)}, mean {sum(moves) / len(moves):.3f}, '
        f'{sum(1 for m in moves if m)} of {len(moves)} additions moved someone')
  assert max(moves) == 2  # the bound is reached, so the assertion above could fail


def test_subject_grade_is_the_most_frequent_ties_to_the_lower():
  items = [_item('a', 3, 1), _item('a', 1, 2), _item('a', 3, 3),
           _item('b', 4, 4), _item('b', 2, 5),
           _item('c', 5, 6)]
  assert splits.subject_grades(items) == {'a': 3, 'b': 2, 'c': 5}
  assert splits.subject_grades(items[::-1]) == {'a': 3, 'b': 2, 'c': 5}


def test_subjects_per_class_counts_each_grade_a_subject_has_rows_of():
  items = [_item('a', 1, 1), _item('a', 1, 2), _item('a', 2, 3), _item('b', 1, 4)]
  per_class = splits.subjects_per_class(items, {'a': 'train', 'b': 'test'})
  assert per_class == {'train': {'mild': 1, 'near_normal': 1}, 'eval': {},
                       'test': {'near_normal': 1}}


def test_missing_test_grades():
  per_class = {'train': {'mild': 2, 'severe': 1, 'normal': 1}, 'eval': {'complete': 1},
               'test': {'mild': 1, 'normal': 0}}
  assert splits.missing_test_grades(per_class) == ['normal', 'severe', 'complete']
  assert splits.missing_test_grades({'train': {}, 'eval': {}, 'test': {}}) == []


def test_needed_clause():
  assert splits.needed_clause((0.7, 0.15, 0.15)) == (
      'at least 2 are needed (one to train on, one to test), 3 to also have one in eval')
  assert splits.needed_clause((0.8, 0, 0.2)) == (
      'at least 2 are needed (one to train on, one to test)')


def test_plan_splits_stops_before_any_media_is_read():
  items = ([_item(f'm{k}', 2) for k in range(3)] + [_item('lonely', 4)] +
           [_item(f'n{k}', 0) for k in range(2)])
  with pytest.raises(splits.SplitError) as error:
    component.plan_splits(items, [0.7, 0.15, 0.15])
  message = str(error.value)
  assert message == (
      'The test split has no subject of grade severe (HB V), so the Evaluator could not '
      'judge it and no model could be blessed. The run stops before any media is decoded.\n'
      '  severe (HB V): 1 subject in the manifest (train 1, eval 0, test 0); at least 2 '
      'are needed (one to train on, one to test), 3 to also have one in eval.\n'
      'Add subjects of these grades to the manifest, or remove their rows. (A subject '
      'whose rows carry several grades is split with its most frequent one.)')


def test_plan_splits_passes_when_every_grade_reaches_test():
  items = [_item(f'm{k}', 2) for k in range(3)] + [_item(f'n{k}', 0) for k in range(2)]
  split_of, assigned = component.plan_splits(items, [0.7, 0.15, 0.15])
  assert sorted(split_of) == ['m0', 'm1', 'm2', 'n0', 'n1']
  assert assigned['test'] == {'mild': 1, 'normal': 1}


def test_plan_splits_refuses_a_test_ratio_of_zero():
  with pytest.raises(splits.SplitError, match='give test a ratio above 0'):
    component.plan_splits([_item(f'm{k}', 2) for k in range(5)], [0.8, 0.2, 0])


def test_a_split_stop_names_the_refused_rows_first():
  """The manifest of the issue: one good row and a bare '4' that no scale was declared
  for. The stop must say that the row was refused, and why, before the split."""
  items = [_item('m0', 1)]
  refused = [manifest.Failure('/data/b.mp4', "row 3: ambiguous label '4'")]
  with pytest.raises(splits.SplitError) as error:
    component.plan_splits(items, [0.7, 0.15, 0.15], refused)
  message = str(error.value)
  assert message.startswith(
      'The manifest checks refused 1 row; a refused row reaches no split:\n'
      "  row 3: ambiguous label '4' (/data/b.mp4)\n"
      'The test split has no subject of grade near_normal (HB II)')


def test_a_run_that_ends_before_the_evaluator_warns_and_goes_on(capsys):
  items = [_item('m0', 1)]
  refused = [manifest.Failure('/data/b.mp4', "row 3: ambiguous label '4'")]
  split_of, assigned = component.plan_splits(items, [0.7, 0.15, 0.15], refused, stop=False)
  assert split_of == {'m0': 'train'} and assigned['train'] == {'near_normal': 1}
  err = capsys.readouterr().err
  assert err.startswith('[ingest] WARNING: this run ends before the Evaluator, so ingest '
                        'goes on; a full run would stop here:\nThe manifest checks refused')
  assert 'at least 2 are needed (one to train on, one to test)' in err
  # A cohort that fills the test split warns of nothing.
  component.plan_splits([_item(f'm{k}', 2) for k in range(3)], [0.7, 0.15, 0.15], stop=False)
  assert capsys.readouterr().err == ''


@pytest.mark.parametrize('value,stops', [(None, True), ('stop', True), ('warn', False)])
def test_the_runner_chooses_stop_or_warn_through_the_environment(value, stops):
  environ = {} if value is None else {component.SPLIT_CHECK_ENV: value}
  assert component.split_check_stops(environ) is stops
  with pytest.raises(ValueError, match='must be stop or warn'):
    component.split_check_stops({component.SPLIT_CHECK_ENV: 'maybe'})


def _stats(subject, split, label, faces, started=0.0):
  return json.dumps({'row': ord(subject[0]), 'video': f'v-{subject}', 'kind': 'video',
                     'faces_per_split': {split: faces},
                     'source': 'meei', 'label': label, 'subject': subject, 'sampled': 5,
                     'faces': faces, 'no_face': 5 - faces, 'sure_passes': 1,
                     'padded_crops': faces // 2, 'started': started, 'finished': started + 2.0,
                     'failure': None if faces else 'no face found in any of 5 sampled frames'})


def test_summary_counts_full_resolution_passes_padding_and_the_processing_span():
  result = summary.summarise([_stats('a', 'train', 'mild', 4, started=100.0),
                              _stats('b', 'test', 'mild', 3, started=101.5)], [])
  assert result['full_resolution_passes'] == 2
  assert result['padded_crops'] == 2 + 1
  assert result['processing_seconds'] == 3.5  # 100.0 .. 103.5, across both items
  assert ('full-resolution detection passes: 2, crops padded at the frame edge: 3, media '
          'processing 3.5 s'
          in summary.format_summary(result))


def test_a_test_subject_without_faces_stops_the_run_after_extraction():
  assigned = {'train': {'mild': 1, 'normal': 1}, 'eval': {'mild': 1},
              'test': {'mild': 1, 'normal': 1}}
  result = summary.summarise([
      _stats('t', 'train', 'mild', 4), _stats('e', 'eval', 'mild', 3),
      _stats('x', 'test', 'mild', 0),                        # the video had no face
      _stats('u', 'train', 'normal', 2), _stats('v', 'test', 'normal', 2)], [])
  assert result['subjects_per_class'] == {'train': {'mild': 1, 'normal': 1},
                                          'eval': {'mild': 1}, 'test': {'normal': 1}}
  assert result['subjects_per_split'] == {'train': 2, 'eval': 1, 'test': 1}
  assert "subjects per class {'normal': 1}" in summary.format_summary(result)
  with pytest.raises(splits.SplitError) as error:
    splits.check_test_split(result['subjects_per_class'], assigned, (0.7, 0.15, 0.15),
                            after_extraction=True)
  lines = str(error.value).splitlines()
  assert lines[0].startswith('After face detection the test split has no subject with '
                             'face crops of grade mild (HB III)')
  assert lines[1] == ('  mild (HB III): 3 subjects in the manifest, with face crops train '
                      '1, eval 1, test 0; at least 2 are needed (one to train on, one to '
                      'test), 3 to also have one in eval.')
  assert 'gave no face crops' in lines[2]


def test_every_grade_named_when_several_are_missing():
  per_class = {'train': {g: 1 for g in GRADES}, 'eval': {}, 'test': {}}
  with pytest.raises(splits.SplitError) as error:
    splits.check_test_split(per_class, per_class, (0.7, 0.15, 0.15))
  message = str(error.value)
  assert message.startswith('The test split has no subject of grades normal (HB I), '
                            'near_normal (HB II), mild (HB III)')
  assert 'could not judge them' in message
  assert len(message.splitlines()) == 2 + len(GRADES)
