"""Manifest parsing: whole-file errors stop the run, row errors are reported."""
import pytest

from components.video_ingest import manifest
from pipeline.cli import main as cli


def _write(tmp_path, text, name='manifest.csv'):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def test_missing_columns_are_named(tmp_path):
  path = _write(tmp_path, 'path,label\na.mp4,I\n')
  with pytest.raises(manifest.ManifestError, match='missing required column.*subject_id, source'):
    manifest.read_rows(path)


def test_cli_fails_before_any_work_on_missing_columns(tmp_path, capsys):
  path = _write(tmp_path, 'file,subject,label,source\n')
  code = cli.main(['run', '--manifest', path, '--pipeline-root', str(tmp_path / 'root')])
  assert code == 2
  err = capsys.readouterr().err
  assert 'missing required column(s) path, subject_id' in err and path in err
  assert not (tmp_path / 'root').exists()


def test_ragged_row_fails_the_run_and_names_the_row(tmp_path):
  path = _write(tmp_path, 'path,subject_id,label,source\na.mp4,s1,I,meei\nb.mp4,s2,II\n')
  with pytest.raises(manifest.ManifestError, match='row 3 is malformed'):
    manifest.read_rows(path)


def test_row_problems_become_failures_and_good_rows_survive(tmp_path):
  (tmp_path / 'good.mp4').write_bytes(b'x' * 10)
  (tmp_path / 'empty.mp4').write_bytes(b'')
  (tmp_path / 'still.PNG').write_bytes(b'x')
  path = _write(tmp_path, '\n'.join([
      'path,subject_id,label,source,side',
      'good.mp4,s1,III,meei,left',
      'still.PNG,s1,HB-1,ck,',
      'good.mp4,s1,III,meei,left',      # duplicate
      'empty.mp4,s2,I,meei,',           # zero bytes
      'missing.mp4,s3,I,meei,',         # not there
      '../outside.mp4,s4,I,meei,',      # escapes
      '/etc/passwd.mp4,s4,I,meei,',     # absolute
      'good.mp4,,I,meei,',              # empty subject (also a duplicate path)
      'clip.gif,s5,I,meei,',            # extension
      'good2.mp4,s6,VIII,meei,',        # label
      'good3.mp4,s7,I,meei,up',         # side
  ]) + '\n')
  items, failures = manifest.check_rows(path, manifest.read_rows(path))
  assert [(i.rel_path, i.grade, i.kind, i.side) for i in items] == [
      ('good.mp4', 2, 'video', 'left'), ('still.PNG', 0, 'image', '')]
  reasons = {f.path.replace(str(tmp_path) + '/', ''): f.reason for f in failures}
  by_row = sorted(f.reason.split(':')[0] for f in failures)
  assert len(failures) == 9 and len(set(by_row)) == 9
  assert 'duplicate of row 2' in [f.reason.split(': ', 1)[1] for f in failures][0]
  assert 'zero-byte' in reasons['empty.mp4']
  assert 'file not found' in reasons['missing.mp4']
  assert 'escapes the manifest folder' in reasons['../outside.mp4']
  assert 'escapes the manifest folder' in reasons['/etc/passwd.mp4']
  assert 'unsupported extension' in reasons['clip.gif']
  assert 'unknown label' in reasons['good2.mp4']
  assert 'side must be left or right' in reasons['good3.mp4']
  assert any('empty subject_id' in f.reason for f in failures)


def _numeric_manifest(tmp_path):
  for name in ('a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'):
    (tmp_path / name).write_bytes(b'x')
  return _write(tmp_path, 'path,subject_id,label,source\n'
                          'a.jpg,s1,HB-4,x\nb.jpg,s2,4,x\nc.jpg,s3,1,x\nd.jpg,s4,6,x\n')


def test_an_undeclared_bare_number_fails_its_row_and_says_what_to_do(tmp_path):
  path = _numeric_manifest(tmp_path)
  items, failures = manifest.check_rows(path, manifest.read_rows(path))
  assert [(i.rel_path, i.grade) for i in items] == [('a.jpg', 3)]
  assert [f.reason for f in failures] == [
      f"row {n}: bare number '{label}' is ambiguous (House-Brackmann 1-6 or grade id 0-5): "
      f'pass --numeric-labels hb|id or write HB-{label}' for n, label in ((3, 4), (4, 1), (5, 6))]


def test_declared_bare_numbers_are_read_on_their_scale(tmp_path):
  path = _numeric_manifest(tmp_path)
  items, failures = manifest.check_rows(path, manifest.read_rows(path), 'hb')
  assert [(i.rel_path, i.grade) for i in items] == [
      ('a.jpg', 3), ('b.jpg', 3), ('c.jpg', 0), ('d.jpg', 5)]
  assert failures == []
  items, failures = manifest.check_rows(path, manifest.read_rows(path), 'id')
  assert [(i.rel_path, i.grade) for i in items] == [('a.jpg', 3), ('b.jpg', 4), ('c.jpg', 1)]
  assert [(f.path, f.reason) for f in failures] == [
      (str(tmp_path / 'd.jpg'), "row 5: label '6' is out of range (grade id 0-5)")]


def test_grades_present_reads_bare_numbers_only_on_a_declared_scale(tmp_path):
  path = _numeric_manifest(tmp_path)
  assert manifest.grades_present(path) == [3]
  assert manifest.grades_present(path, 'hb') == [0, 3, 5]
  assert manifest.grades_present(path, 'id') == [1, 3, 4]


def test_the_demo_manifest_needs_no_declared_scale(tmp_path):
  # scripts/demo.sh passes no --numeric-labels: every label it writes must carry its scale.
  from pipeline.demo.sample_data import write_sample_data  # pylint: disable=g-import-not-at-top
  write_sample_data(str(tmp_path), per_grade=1, seconds=0.2)
  path = str(tmp_path / 'manifest.csv')
  items, failures = manifest.check_rows(path, manifest.read_rows(path))
  assert failures == []
  assert sorted((i.source, i.grade) for i in items) == sorted(
      [(source, g) for g in range(6) for source in (('meei', 'yfp')[g % 2], 'stills')])


def test_the_numeric_scale_is_in_the_ingest_cache_key(tmp_path):
  from components.video_ingest.component import VideoIngest  # pylint: disable=g-import-not-at-top
  path = _numeric_manifest(tmp_path)
  assert VideoIngest(path, 'f', numeric_labels='hb').exec_properties['numeric_labels'] == 'hb'
  assert VideoIngest(path, 'f').exec_properties.get('numeric_labels') is None
  with pytest.raises(ValueError, match="must be one of hb, id, got 'HB'"):
    VideoIngest(path, 'f', numeric_labels='HB')


def test_fingerprint_changes_with_the_media(tmp_path):
  (tmp_path / 'a.mp4').write_bytes(b'x' * 10)
  path = _write(tmp_path, 'path,subject_id,label,source\na.mp4,s1,I,meei\n')
  first = manifest.fingerprint(path)
  assert manifest.fingerprint(path) == first
  (tmp_path / 'a.mp4').write_bytes(b'y' * 11)
  assert manifest.fingerprint(path) != first


def test_grades_present_are_the_labelled_grades_only(tmp_path):
  # A cohort with two grades gets per-grade metrics and gates for those two alone;
  # an unknown label is a failed input, not a grade.
  path = tmp_path / 'manifest.csv'
  path.write_text('path,subject_id,label,source\na.jpg,s1,I,x\nb.jpg,s2,HB-III,x\n'
                  'c.jpg,s3,normal,x\nd.jpg,s4,grade 9,x\n')
  assert manifest.grades_present(str(path)) == [0, 2]


def _untestable_cohort(tmp_path, astronaut):
  # Grade I has three subjects (one per split); grade VI has one, so it can only train.
  # The grades are bare House-Brackmann numbers, declared on the command line: the
  # message names grade VI only if the scale reached the ingest executor.
  from tests.conftest import write_jpeg  # pylint: disable=g-import-not-at-top
  rows = ['path,subject_id,label,source']
  for k, (subject, label) in enumerate([('a', '1'), ('b', '1'), ('c', '1'), ('d', '6')]):
    write_jpeg(str(tmp_path / f'{k}.jpg'), astronaut)
    rows.append(f'{k}.jpg,{subject},{label},stills')
  return _write(tmp_path, '\n'.join(rows) + '\n')


@pytest.mark.slow
def test_cli_stops_an_untestable_cohort_with_a_message_not_a_traceback(tmp_path, capsys,
                                                                       astronaut):
  path = _untestable_cohort(tmp_path, astronaut)
  code = cli.main(['run', '--manifest', path, '--pipeline-root', str(tmp_path / 'root'),
                   '--stop-after', 'evaluate', '--numeric-labels', 'hb', '--model', 'demo'])
  assert code == 2
  err = capsys.readouterr().err
  assert 'no subject of grade complete (HB VI)' in err
  assert '1 subject in the manifest (train 1, eval 0, test 0); at least 2 are needed' in err
  assert 'The run stops before any media is decoded' in err
  assert '[ingest] progress' not in err and 'faces found' not in err
  assert 'Traceback' not in err


@pytest.mark.slow
def test_an_ingest_only_run_takes_an_untestable_cohort_and_says_what_a_full_run_needs(
    tmp_path, capsys, astronaut):
  path = _untestable_cohort(tmp_path, astronaut)
  code = cli.main(['run', '--manifest', path, '--pipeline-root', str(tmp_path / 'root'),
                   '--stop-after', 'ingest', '--numeric-labels', 'hb'])
  assert code == 0
  captured = capsys.readouterr()
  assert '[ingest] WARNING: this run ends before the Evaluator, so ingest goes on' in captured.err
  assert '1 subject in the manifest (train 1, eval 0, test 0); at least 2 are needed' in (
      captured.err)
  assert 'Examples: ' in captured.out and 'Traceback' not in captured.err


@pytest.mark.slow
def test_a_stop_names_the_refused_rows_before_the_split(tmp_path, capsys, astronaut):
  """One good HB-II row and a bare 4 with no declared scale: the 4 is refused, and the
  stop says so first, then why grade II cannot be tested."""
  from tests.conftest import write_jpeg  # pylint: disable=g-import-not-at-top
  for name in ('a.jpg', 'b.jpg'):
    write_jpeg(str(tmp_path / name), astronaut)
  path = _write(tmp_path, 'path,subject_id,label,source\na.jpg,a,HB-II,stills\n'
                          'b.jpg,b,4,stills\n')
  code = cli.main(['run', '--manifest', path, '--pipeline-root', str(tmp_path / 'root'),
                   '--stop-after', 'evaluate', '--model', 'demo'])
  assert code == 2
  err = capsys.readouterr().err
  refused = err.index('The manifest checks refused 1 row; a refused row reaches no split:')
  assert err.index('  row 3: ', refused) < err.index('The test split has no subject of grade '
                                                      'near_normal (HB II)', refused)
  assert str(tmp_path / 'b.jpg') in err[refused:]
