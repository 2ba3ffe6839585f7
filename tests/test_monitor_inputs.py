"""``palsy-tfx monitor``'s inputs and exit codes, fast: the drift config, the graded files
(predict's JSON, archive JSON lines, folders), what each bad input answers, and TFDV's
comparison on graded records written by hand (tests/test_monitor.py runs it on real media
against a real pipeline's statistics)."""
import json
import os

import numpy as np
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.video_ingest import pseudonyms
from pipeline.cli import main as cli
from pipeline.monitor import config as drift_config
from pipeline.monitor import drift, graded as graded_inputs, monitor
from preprocessing import descriptors

GRADES = ('mild', 'moderate')


def record(path, frames, grade='mild', confidence=0.6, error=None, **extra):
  """An input as ``Prediction.as_json`` writes it; ``frames``: descriptor dicts, None for a
  frame without a face."""
  return {'path': path, 'grade': None if error else grade,
          'probabilities': None if error else [0.1] * 6, 'confidence': None if error else confidence,
          'ood_score': None, 'ood_share': None, 'refer': False, 'refer_reasons': [],
          'frames_sampled': len(frames), 'faces_found': sum(f is not None for f in frames),
          'error': error,
          'frames': [{'timestamp_ms': 200 * i, 'face_box': None if f is None else [0, 0, .5, .5],
                      'probabilities': None, 'ood_score': None, 'descriptors': f}
                     for i, f in enumerate(frames)], **extra}


def batch(seed, inputs=40, frames=3, brightness=130.0):
  """Inputs whose descriptors are drawn around the same values; ``brightness`` shifts one."""
  rng = np.random.default_rng(seed)
  out = []
  for n in range(inputs):
    level = rng.normal(brightness, 6)
    out.append(record(f'/clinic/Jane Doe {seed}-{n}.mp4', [
        {'face_size': rng.normal(0.5, 0.04), 'face_score': rng.normal(1.0, 0.2),
         'brightness': level + rng.normal(0, 2), 'contrast': rng.normal(0.5, 0.03),
         'sharpness': rng.normal(8.0, 0.8)} for _ in range(frames)],
        grade=GRADES[n % 2], confidence=float(rng.uniform(0.5, 0.7))))
  return out


def write(path, records, lines=False):
  with open(path, 'w') as f:
    if lines:
      f.write(''.join(json.dumps(r) + '\n' for r in records))
    else:
      json.dump(records, f)
  return str(path)


# The drift config.

def test_the_default_config_watches_every_descriptor_with_the_right_comparator():
  config = drift_config.read()
  watched = drift_config.by_name(config)
  assert list(watched) == list(descriptors.FRAME_KEYS) + list(descriptors.INPUT_KEYS)
  assert {n for n, f in watched.items()
          if drift_config.comparator(f) == drift_config.LINF} == {'grade'}
  assert all(0 < drift_config.threshold(f) <= 1 for f in watched.values())


@pytest.mark.parametrize('text, says', [
    ('feature { name: "brightnes" type: FLOAT drift_comparator { jensen_shannon_divergence '
     '{ threshold: 0.5 } } }', "feature 'brightnes' is no descriptor"),
    ('feature { name: "grade" type: BYTES drift_comparator { jensen_shannon_divergence '
     '{ threshold: 0.5 } } }', 'needs drift_comparator { infinity_norm'),
    ('feature { name: "sharpness" type: FLOAT drift_comparator { infinity_norm '
     '{ threshold: 0.5 } } }', 'needs drift_comparator { jensen_shannon_divergence'),
    ('feature { name: "sharpness" type: FLOAT drift_comparator { jensen_shannon_divergence '
     '{ threshold: 0 } } }', 'threshold 0 is not in (0, 1]'),
    ('feature { name: "sharpness" type: INT drift_comparator { jensen_shannon_divergence '
     '{ threshold: 0.5 } } }', 'has type INT; it is FLOAT'),
    ('feature { name: "sharpness" treshold: 1 }', 'not a drift config'),
    ('', 'no feature to watch'),
])
def test_a_bad_config_is_named_with_its_file(tmp_path, text, says):
  path = tmp_path / 'drift.pbtxt'
  path.write_text(text)
  with pytest.raises(drift_config.DriftConfigError) as e:
    drift_config.read(str(path))
  assert str(e.value).startswith(f'{path}: ') and says in str(e.value)


# The graded files.

def test_predict_json_and_archive_lines_read_alike(tmp_path, monkeypatch):
  monkeypatch.setenv(pseudonyms.KEY_ENV, 'k' * 40)
  records = batch(0, inputs=3) + [record('/clinic/coffee.png', [None], error='no face')]
  listed = graded_inputs.read(write(tmp_path / 'out.json', records))
  lines = graded_inputs.read(write(tmp_path / 'out.jsonl', [
      dict(r, row=r_n + 2) for r_n, r in enumerate(records)], lines=True))
  assert [g.frames for g in listed.inputs] == [g.frames for g in lines.inputs]
  assert (listed.not_graded, lines.not_graded, listed.frames) == (1, 1, 9)
  assert [g.row for g in listed.inputs] == [1, 2, 3]   # the place in the file
  assert [g.row for g in lines.inputs] == [2, 3, 4]    # the manifest row the record carries
  # The pseudonym is the path's under the key: the same on every run, and no path.
  assert listed.inputs[0].pseudonym == pseudonyms.video_id(b'k' * 40, records[0]['path'])
  assert listed.stable_pseudonyms
  monkeypatch.delenv(pseudonyms.KEY_ENV)
  unkeyed = graded_inputs.read(str(tmp_path / 'out.json'))
  assert not unkeyed.stable_pseudonyms
  assert unkeyed.inputs[0].pseudonym != listed.inputs[0].pseudonym


def test_a_folder_is_read_file_by_file_and_a_summary_skipped(tmp_path):
  write(tmp_path / 'a.jsonl', batch(0, inputs=2), lines=True)
  write(tmp_path / 'b.json', batch(1, inputs=3))
  (tmp_path / 'summary.json').write_text(json.dumps({'graded': 5, 'failed': 0}))
  (tmp_path / 'notes.txt').write_text('not read')
  found = graded_inputs.read(str(tmp_path))
  assert [os.path.basename(f) for f in found.files] == ['a.jsonl', 'b.json']
  assert [os.path.basename(f) for f in found.skipped] == ['summary.json']
  assert len(found.inputs) == 5


@pytest.mark.parametrize('content, says', [
    ('[{"path": "x"}]', 'input 1 is not a graded input'),
    ('{"frames": []}\nnot json\n', 'line 2 is not JSON'),
    ('{"graded": 3}', 'holds no graded input'),
])
def test_a_bad_graded_file_is_named(tmp_path, content, says):
  path = tmp_path / 'graded.json'
  path.write_text(content)
  with pytest.raises(graded_inputs.GradedInputError) as e:
    graded_inputs.read(str(path))
  assert str(e.value).startswith(f'{path}: ') and says in str(e.value)


def test_frames_without_descriptors_ask_for_a_new_grading(tmp_path):
  old = batch(0, inputs=1)
  for frame in old[0]['frames']:
    del frame['descriptors']
  with pytest.raises(graded_inputs.GradedInputError, match='from before predict recorded'):
    graded_inputs.read(write(tmp_path / 'old.json', old))


# TFDV's comparison and the exit codes.

def test_the_graded_values_are_counted_in_the_baseline_buckets():
  baseline, graded = statistics_pb2.FeatureNameStatistics(), statistics_pb2.FeatureNameStatistics()
  for feature, edges in ((baseline, (0, 1, 2)), (graded, (5, 6))):
    histogram = feature.num_stats.histograms.add()
    for low, high in zip(edges, edges[1:]):
      histogram.buckets.add(low_value=low, high_value=high, sample_count=1)
  drift.rebucket(graded, baseline, [-1, 0.5, 1.5, 1.5, 2.0, 3])
  assert [(b.low_value, b.high_value, b.sample_count)
          for b in graded.num_stats.histograms[0].buckets] == [
              (-1, 0, 1), (0, 1, 1), (1, 2, 3), (2, 3, 1)]


def test_exit_codes_no_drift_drift_and_bad_input(tmp_path, capsys):
  baseline = write(tmp_path / 'earlier.json', batch(0))
  alike = write(tmp_path / 'alike.json', batch(1))
  darker = write(tmp_path / 'darker.json', batch(2, brightness=80.0))
  assert cli.main(['monitor', '--baseline', baseline, '--graded', alike]) == 0
  assert 'no drift in the 9 descriptors compared' in capsys.readouterr().out
  assert cli.main(['monitor', '--baseline', baseline, '--graded', darker,
                   '--output', str(tmp_path / 'out')]) == 1
  printed = capsys.readouterr().out
  assert 'DRIFT in 1 descriptor:\n  brightness: ' in printed
  page = open(tmp_path / 'out' / monitor.PAGE_FILE).read()
  assert 'Jane Doe' not in page and '/clinic' not in page  # rows and pseudonyms only
  # Bad input: exit 2 and one line naming the file.
  config = tmp_path / 'bad.pbtxt'
  config.write_text('feature { name: "color" type: FLOAT }')
  few = write(tmp_path / 'few.json', batch(3, inputs=4))
  os.makedirs(tmp_path / 'empty')
  for argv, named in (
      (['--graded', str(tmp_path / 'missing.json')], 'missing.json: no such file'),
      (['--graded', alike, '--drift-config', str(config)], f"{config}: feature 'color'"),
      (['--graded', few], f'{few}: 12 frames with a face'),
      (['--graded', alike, '--baseline', str(tmp_path / 'nowhere')], 'nowhere: no such'),
      (['--graded', alike, '--baseline', str(tmp_path / 'empty')], 'no .json or .jsonl file')):
    args = ['monitor', '--baseline', baseline] + argv
    assert cli.main(args) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('palsy-tfx monitor: error: '), err
    assert named in err[0], err


def test_a_pipeline_root_without_statistics_is_named(tmp_path, capsys):
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = str(tmp_path / 'metadata.sqlite')
  metadata_store.MetadataStore(config)  # an empty store, as before any run
  graded = write(tmp_path / 'g.json', batch(0))
  assert cli.main(['monitor', '--baseline', str(tmp_path), '--graded', graded]) == 2
  err = capsys.readouterr().err
  assert 'metadata.sqlite: no ExampleStatistics artifact' in err


def test_a_shift_in_the_predicted_grades_is_caught_by_l_infinity(tmp_path):
  """Against an earlier grading, half mild and half moderate, a batch graded all moderate:
  the share of 'moderate' differs by 0.5, over grade's threshold 0.3, and nothing else."""
  shifted = batch(1)
  for r in shifted:
    r['grade'] = 'moderate'
  outcome = monitor.run(write(tmp_path / 'earlier.json', batch(0)),
                        write(tmp_path / 'now.json', shifted))
  [grade] = outcome.comparison.drifted
  assert (grade.name, grade.comparator, grade.level) == ('grade', 'infinity_norm', 'input')
  assert grade.value == pytest.approx(0.5)
  assert 'moderate' in grade.description or 'mild' in grade.description
