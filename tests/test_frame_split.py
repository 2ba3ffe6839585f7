"""The leaky frame split of the leakage demonstration: ratios, determinism, the leak
itself, its checks and what the ingest summary says about it."""
import collections
import json

import pytest

from components.video_ingest import component, splits, summary


def _frames(videos, per_video):
  """(video id, timestamp) of ``per_video`` frames at 3 fps in each of ``videos``."""
  return [(f'{v:016x}', round(1000 * k / 3)) for v in range(videos) for k in range(per_video)]


@pytest.mark.parametrize('ratios', [(0.7, 0.15, 0.15), (0.5, 0.3, 0.2), (0.8, 0, 0.2)])
def test_the_ratios_are_honoured_over_many_frames(ratios):
  frames = _frames(400, 50)  # 20,000 frames: the binomial sd of a share is at most 0.0035
  counts = collections.Counter(splits.frame_split(v, t, ratios) for v, t in frames)
  total = sum(ratios)
  for name, ratio in zip(splits.SPLIT_NAMES, ratios):
    assert counts[name] / len(frames) == pytest.approx(ratio / total, abs=0.015), counts
  if 0 in ratios:
    assert counts['eval'] == 0  # a split without a share gets no frame at all


def test_deterministic_and_order_free():
  frames = _frames(20, 30)
  first = [splits.frame_split(v, t) for v, t in frames]
  assert [splits.frame_split(v, t) for v, t in reversed(frames)] == first[::-1]
  # The frame's identity, not its position, decides: another video's same timestamps
  # split differently.
  assert first[:30] != first[30:60]


def test_one_subjects_frames_land_in_every_split():
  """The leak: one 10-second video of one person, sampled at 3 fps."""
  per_split = collections.Counter(splits.frame_split('5f1c0a93d2e47b68', t)
                                  for _, t in _frames(1, 30))
  assert set(per_split) == set(splits.SPLIT_NAMES), per_split


def _stats(subject, label, faces_per_split):
  faces = sum(faces_per_split.values())
  return json.dumps({'row': ord(subject[0]), 'video': f'v-{subject}', 'kind': 'video', 'source': 'meei',
                     'faces_per_split': faces_per_split, 'label': label, 'subject': subject,
                     'sampled': faces, 'faces': faces, 'no_face': 0, 'sure_passes': 0,
                     'padded_crops': 0, 'started': 0.0, 'finished': 1.0, 'failure': None})


def test_the_summary_counts_a_subject_in_every_split_of_its_frames_and_warns():
  result = summary.summarise([_stats('a', 'mild', {'train': 5, 'test': 2}),
                              _stats('b', 'mild', {'train': 4, 'eval': 1}),
                              _stats('c', 'normal', {'test': 3})], [], split_by='frame')
  assert result['split_by'] == 'frame'
  assert result['examples_per_split'] == {'train': 9, 'eval': 1, 'test': 5}
  assert result['subjects_per_split'] == {'train': 2, 'eval': 1, 'test': 2}
  assert result['subjects_per_class']['test'] == {'mild': 1, 'normal': 1}
  assert result['test_subjects_also_in_train'] == 1  # a; c is in test alone
  text = summary.format_summary(result)
  assert summary.FRAME_SPLIT_WARNING in text and 'test subjects also in train: 1' in text


def test_a_subject_split_summary_says_so_and_has_no_warning():
  result = summary.summarise([_stats('a', 'mild', {'train': 5}),
                              _stats('c', 'mild', {'test': 3})], [])
  assert result['split_by'] == 'subject' and result['test_subjects_also_in_train'] == 0
  assert 'WARNING' not in summary.format_summary(result)


def test_a_grade_without_test_frames_stops_the_run():
  splits.check_frame_test_split({'train': {'mild': 9, 'severe': 2},
                                 'test': {'mild': 1, 'severe': 1}})
  with pytest.raises(splits.SplitError) as error:
    splits.check_frame_test_split({'train': {'mild': 9, 'severe': 2}, 'eval': {'severe': 1},
                                   'test': {'mild': 1}})
  assert str(error.value).splitlines() == [
      'With the frame split, the test split has no frame of severe, so the Evaluator could '
      'not judge it. The run stops before training.',
      '  severe (HB V): face crops train 2, eval 1, test 0.',
      'Add media of these grades, or sample more frames per second.']


def test_a_frame_split_without_a_test_share_stops_before_any_media_is_read(capsys):
  with pytest.raises(splits.SplitError, match='give test a ratio above 0'):
    component.plan_frame_split([0.8, 0.2, 0])
  component.plan_frame_split([0.7, 0.15, 0.15])
  assert summary.FRAME_SPLIT_WARNING in capsys.readouterr().err


def test_an_unknown_split_mode_is_refused_when_the_pipeline_is_built(tmp_path):
  manifest = tmp_path / 'manifest.csv'
  manifest.write_text('path,subject_id,label,source\n')
  with pytest.raises(ValueError, match="split_by must be one of"):
    component.VideoIngest(str(manifest), split_by='video')


def test_a_frame_split_model_is_evaluated_but_never_pushed(tmp_path):
  from pipeline.pipeline import create_pipeline  # pylint: disable=g-import-not-at-top
  from pipeline.options import DataOptions, ServingOptions  # pylint: disable=g-import-not-at-top
  args = dict(pipeline_name='p', pipeline_root=str(tmp_path),
              data=DataOptions('m.csv', input_fingerprint='f', split_by='frame'),
              serving=ServingOptions(serving_dir=str(tmp_path / 'serving')))
  with pytest.raises(ValueError, match='must never be pushed'):
    create_pipeline(**args)
  components = {c.id: c for c in create_pipeline(**args, stop_after='evaluate').components}
  assert 'Evaluator' in components and 'Pusher' not in components
  # Its evidence report is made all the same, with no pushed model to say where.
  assert 'pushed_model' not in components['EvidenceReporter'].inputs
