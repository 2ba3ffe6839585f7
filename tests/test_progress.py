"""Overall ingest progress: counts from per-item files, the line, and the reporter."""
import pytest

from components.video_ingest import progress


def _stats(sampled, faces, failure=None):
  return {'sampled': sampled, 'faces': faces, 'no_face': sampled - faces, 'failure': failure}


def test_records_add_up(tmp_path):
  progress.record(str(tmp_path), 2, _stats(10, 9))
  progress.record(str(tmp_path), 5, _stats(4, 0, 'no face found'))
  (tmp_path / '7.json').write_text('{"sampl')  # a file still being written is skipped
  done = progress.totals(progress.read_records(str(tmp_path)))
  assert done == {'files': 2, 'failed': 1, 'sampled': 14, 'faces': 9, 'no_face': 5}


def test_line_with_eta():
  done = {'files': 3, 'failed': 1, 'sampled': 40, 'faces': 35, 'no_face': 5}
  # 3 files in 90 s: 30 s each, 7 left -> 210 s
  assert progress.format_progress(done, 10, 90.0) == (
      '[ingest] 3/10 files, 40 frames sampled, 35 faces, 1 failed, 0:01:30 elapsed, '
      'ETA 0:03:30')
  finished = dict(done, files=10)
  assert 'ETA' not in progress.format_progress(finished, 10, 3725.0)
  assert '1:02:05 elapsed' in progress.format_progress(finished, 10, 3725.0)


def test_reporter_prints_changes_and_a_last_line(tmp_path):
  lines = []
  folder = str(tmp_path / 'progress')
  with progress.ProgressReporter(folder, total_files=2, interval=3600,
                                 write=lines.append) as reporter:
    progress.record(folder, 1, _stats(6, 6))
    reporter.report()
    reporter.report()  # nothing changed: no line
    progress.record(folder, 2, _stats(6, 5))
  assert [line.split(', 0:')[0] for line in lines] == [
      '[ingest] 1/2 files, 6 frames sampled, 6 faces, 0 failed',
      '[ingest] 2/2 files, 12 frames sampled, 11 faces, 0 failed']
  assert not (tmp_path / 'progress').exists()  # the folder is removed afterwards


@pytest.mark.parametrize('args,expected', [
    ([], True), (['--direct_running_mode=multi_processing', '--direct_num_workers=2'], False),
    (['--direct_running_mode=multi_processing', '--direct_num_workers=1'], True),
    (['--number_of_worker_harness_threads=1'], False), (['--runner=DataflowRunner'], False)])
def test_decode_ahead_only_with_a_spare_core(args, expected):
  from components.video_ingest import component  # pylint: disable=g-import-not-at-top
  assert component.decode_ahead(args) is expected
