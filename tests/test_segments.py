"""A long video cut into segments gives the examples of reading it in one go.

Real encoded clips (libx264 with a keyframe each second, so a segment seeks; and one
keyframe only, so a segment decodes its pre-roll from the start), real PyAV, real dlib:
the segments' frames, timestamps and indices must equal the whole file's, and their
face boxes may differ only where the face search restarted at a boundary.
"""
import json

import numpy as np
import pytest

from components.video_ingest import extract, limits, segments, work_list
from preprocessing import crop_settings, frames
from preprocessing.media_writer import write_video
from tests.conftest import subject_frames

FPS = 25
SECONDS = 7
SEGMENT_S = 2.0


@pytest.fixture(scope='module', params=['keyint=25:min-keyint=25:scenecut=0', 'keyint=1000'])
def clip(request, tmp_path_factory):
  path = str(tmp_path_factory.mktemp('segments') / 'long.mp4')
  write_video(path, subject_frames(3, FPS * SECONDS, seed=4), fps=FPS,
              options={'x264-params': request.param})
  return path


def test_spans_cover_the_video_and_the_last_is_open():
  assert limits.spans(None, 60) == [(0.0, None)]
  assert limits.spans(60.0, 60) == [(0.0, None)]
  assert limits.spans(7.0, 2.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, None)]
  assert limits.spans(6.0, 2.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, None)]


@pytest.mark.parametrize('fps', [3.0, 6.0, 7.0, 0.0])
def test_segments_sample_exactly_the_frames_of_the_whole_file(clip, fps):
  whole = list(frames.sample_video(clip, fps, threaded=False))
  parts = []
  for start, end in limits.spans(frames.probe(clip).duration_s, SEGMENT_S):
    parts += frames.sample_video(clip, fps, threaded=False, start_s=start, end_s=end)
  assert [(f.index, f.timestamp_ms) for f in parts] == [(f.index, f.timestamp_ms) for f in whole]
  assert len(whole) >= (SECONDS * fps if fps else SECONDS * FPS) - 1
  for a, b in zip(whole, parts):
    np.testing.assert_array_equal(a.rgb, b.rgb)


def _work(path, **kw):
  kw.setdefault('size', 1)
  return work_list.Work(row=2, path=path, kind='video', subject='s', video='v',
                        split='train', grade=2, source='meei', side='left', **kw)


def _run(path, plan):
  fn = extract.ExtractFaces({'meei': 3.0}, 3.0, crop_settings.CropSettings(size=64))
  fn.setup()
  examples, stats = [], []
  for k, (start, end) in enumerate(plan):
    for out in fn.process(_work(path, start_s=start, end_s=end, segment=k, segments=len(plan))):
      if hasattr(out, 'tag'):
        stats.append(out.value[1])
      else:
        examples.append(out)
  return examples, extract.merge_stats(stats)


def _fields(serialized):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  f = tf.train.Example.FromString(serialized).features.feature
  return (f['video_id'].bytes_list.value[0], f['frame_index'].int64_list.value[0],
          f['timestamp_ms'].int64_list.value[0], f['label'].int64_list.value[0],
          f['subject_id'].bytes_list.value[0]), np.array(f['face_box'].float_list.value)


def test_segment_examples_equal_one_element_per_video(clip):
  plan = limits.spans(frames.probe(clip).duration_s, SEGMENT_S)
  assert len(plan) == 4
  whole, whole_stats = _run(clip, [(0.0, None)])
  parts, part_stats = _run(clip, plan)
  assert len(whole) == SECONDS * 3 and [s for s, _ in parts] == [s for s, _ in whole]
  width, height = 200, 160
  for (_, a), (_, b) in zip(whole, parts):
    (key_a, box_a), (key_b, box_b) = _fields(a), _fields(b)
    assert key_a == key_b  # the example's key: video, frame index, timestamp
    # Within 2 px where tracking restarted at a boundary; [ymin, xmin, ymax, xmax].
    assert np.all(np.abs(box_a - box_b) * [height, width, height, width] <= 2.0)
  for key in ('sampled', 'faces', 'no_face', 'faces_per_split', 'failure', 'kind'):
    assert part_stats[key] == whole_stats[key], key


def test_a_plan_cuts_a_long_video_and_refuses_one_over_a_limit(clip):
  plan = segments.PlanSegments(limits.MediaLimits(), segment_s=SEGMENT_S)
  plan.setup()
  cut = list(plan.process(_work(clip, size=10)))
  assert [(w.start_s, w.end_s, w.segment, w.segments) for w in cut] == [
      (0.0, 2.0, 0, 4), (2.0, 4.0, 1, 4), (4.0, 6.0, 2, 4), (6.0, None, 3, 4)]
  short = segments.PlanSegments(limits.MediaLimits(max_duration_s=SECONDS - 0.5))
  short.setup()
  [refused] = list(short.process(_work(clip, size=10)))
  row, stats = refused.value
  assert row == 2 and 'over the duration limit' in json.loads(stats)['failure']


# The clip: 7 s, 200x160 (32,000 pixels), 175 frames; each limit passes at the clip's
# own value and refuses it just below.
@pytest.mark.parametrize('limit,at,reason', [
    ('max_bytes', None, 'over the size limit'),
    ('max_duration_s', SECONDS, 'over the duration limit'),
    ('max_pixels', 160 * 200, 'over the resolution limit'),
    ('max_frames', FPS * SECONDS, 'over the frame-count limit')])
def test_each_media_limit_refuses_a_file_over_it_before_decoding(clip, limit, at, reason,
                                                                 monkeypatch):
  import os  # pylint: disable=g-import-not-at-top
  size = os.path.getsize(clip)
  at = size if at is None else at
  info = frames.probe(clip)
  assert (info.width, info.height) == (200, 160)
  assert info.frames in (0, FPS * SECONDS) and abs(info.duration_s - SECONDS) < 0.1

  def plan(value):
    fn = segments.PlanSegments(limits.MediaLimits(**{limit: value}), segment_s=60)
    fn.setup()
    return list(fn.process(_work(clip, size=size)))

  [whole] = plan(at)
  assert isinstance(whole, work_list.Work)
  decoded = []
  monkeypatch.setattr(frames, '_decode', lambda *a, **k: decoded.append(a) or iter(()))
  [refused] = plan(at - 1 if limit != 'max_duration_s' else at - 0.5)
  assert reason in json.loads(refused.value[1])['failure']
  assert decoded == []  # nothing was decoded to find out
