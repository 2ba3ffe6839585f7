"""The work list: what workers read instead of rows in the job graph."""
import glob
import os

import apache_beam as beam
import pytest

from components.video_ingest import component, extract, limits, pseudonyms, segments, work_list
from components.video_ingest.manifest import Item
from preprocessing import crop_settings

KEY = b'k' * 32


def _items(n):
  return [Item(row=i + 2, path=f'/data/clinic/media/jane-doe-{i}.mp4',
               rel_path=f'media/jane-doe-{i}.mp4', subject_id=f'MRN-{i // 2:06d}',
               grade=i % 6, source='meei', side='left', kind='video', size=1000 + i)
          for i in range(n)]


def _works(n):
  items = _items(n)
  split_of = {item.subject_id: ('train', 'eval', 'test')[i % 3] for i, item in enumerate(items)}
  return work_list.plan(items, pseudonyms.item_ids(KEY, items), split_of)


def test_the_work_list_round_trips_and_holds_no_raw_subject_id_or_key(tmp_path):
  works = _works(2500)
  pattern = work_list.write(str(tmp_path), works, shard_rows=1000)
  files = sorted(glob.glob(pattern))
  assert len(files) == 3  # 1000 + 1000 + 500
  lines = [line for f in files for line in open(f).read().splitlines()]
  assert [work_list.from_json(line) for line in lines] == works
  text = '\n'.join(lines)
  assert 'MRN-' not in text and KEY.decode() not in text
  assert works[0].subject == pseudonyms.subject_id(KEY, 'MRN-000000')
  assert works[0].video == pseudonyms.video_id(KEY, 'media/jane-doe-0.mp4')
  work_list.remove(str(tmp_path))
  assert not os.path.exists(os.path.join(str(tmp_path), work_list.FOLDER))


class _Examples:
  uri = '/out'
  split_names = '["train","eval","test"]'


def _graph_bytes(tmp_path, n):
  folder = str(tmp_path / str(n))
  pattern = work_list.write(folder, _works(n))
  p = beam.Pipeline()
  plan = segments.PlanSegments(limits.MediaLimits(), progress_dir=folder)
  faces = extract.ExtractFaces({'meei': 3.0}, 3.0, crop_settings.CropSettings(size=64),
                               progress_dir=folder)
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  examples = standard_artifacts.Examples()
  examples.uri = folder
  examples.split_names = _Examples.split_names
  component.build_ingest(p, pattern, examples, os.path.join(folder, '_stats', 'part'), plan,
                         faces)
  return len(p.to_runner_api().SerializeToString())


def test_the_job_graph_does_not_grow_with_the_cohort(tmp_path):
  small, large = _graph_bytes(tmp_path, 10), _graph_bytes(tmp_path, 5000)
  # Only the folder's name (two more digits, in every path the DoFns hold) differs, and
  # Beam compresses each pickled DoFn, so the sizes wander by tens of bytes (64 to 98
  # measured). Rows in the graph (beam.Create) added ~80 bytes a row, 400 KB here.
  assert abs(large - small) <= 1024, (small, large)
