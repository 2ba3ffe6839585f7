"""Overall ingest progress: per-worker running totals, the line, and the reporter."""
import pytest

from components.video_ingest import progress


def _stats(sampled, faces, failure=None):
  return {'sampled': sampled, 'faces': faces, 'no_face': sampled - faces, 'failure': failure}


def test_each_worker_keeps_one_file_of_running_totals(tmp_path):
  folder = str(tmp_path)
  a, b = progress.Tally(folder, flush_s=0), progress.Tally(folder, flush_s=3600)
  for n in range(50):  # 50 items through one worker: still one file
    a.add(_stats(2, 2), fraction=1.0)
  b.add(_stats(10, 9), fraction=0.5)   # half of a two-segment video...
  b.add(_stats(4, 0, 'no face found'), fraction=0.5)  # ...and its other half
  # b wrote its first item at once, and waits for its interval or its bundle's end
  assert progress.totals(progress.read_records(folder))['files'] == 50.5
  b.flush()
  (tmp_path / 'partial.json').write_text('{"sampl')  # a file being rewritten is skipped
  assert len(list(tmp_path.glob('*.json'))) == 3
  done = progress.totals(progress.read_records(folder))
  assert done == {'files': 51.0, 'failed': 1, 'sampled': 114, 'faces': 109, 'no_face': 5}


def test_a_tally_without_a_folder_writes_nothing(tmp_path):
  tally = progress.Tally(None, flush_s=0)
  tally.add(_stats(3, 3), fraction=1.0)
  tally.flush()
  assert tally.totals['files'] == 1


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
    tally = progress.Tally(folder, flush_s=0)
    tally.add(_stats(6, 6), fraction=1.0)
    reporter.report()
    reporter.report()  # nothing changed: no line
    tally.add(_stats(6, 5), fraction=1.0)
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
