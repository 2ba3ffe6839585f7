"""``palsy-tfx monitor`` end to end: a real local pipeline ingests synthetic subjects
(VideoIngest -> StatisticsGen -> schema -> ExampleValidator, real Beam and dlib), other
subjects drawn the same way are graded by ``pipeline.predict.grade`` (with the known-answer
grader: the descriptors come from the crops, not the model), and the monitor compares them
with the train split's statistics, found through the run's MLMD.

Like the training data, nothing drifts. Darkened (every grey level x 0.6, as less light
gives), further away (the picture shrunk to 0.7 in the middle of its frame) or blurred (a
Gaussian of 1 px), exactly the descriptor that change moves drifts: brightness, face size,
sharpness, and no other.
"""
import json
import os

import cv2
import numpy as np
import pytest

from pipeline.cli import main as cli
from components.video_ingest import pseudonyms
from pipeline.monitor import drift, monitor
from pipeline.monitor import page as page_module
from pipeline.options import DataOptions, RuntimeOptions
from pipeline.predict import grade, output
from pipeline.runners import local as local_runner
from preprocessing import crop_settings
from preprocessing.media_writer import write_video
from tests import ingest_fixtures
from tests.conftest import subject_frames
from tests.fake_grader import CyclingGrader

pytestmark = pytest.mark.slow  # runs an ingest pipeline

IMAGE_SIZE = 48
TRAIN_SUBJECTS = 40   # about 24 reach the train split, some 170 frames
GRADED_SUBJECTS = 20  # about 140 frames
FRAMES = 30           # 1.2 s at 25 fps; sampled at yfp's 6 fps: 7 frames each


def darkened(frame):
  return np.round(frame * 0.6).astype(np.uint8)


def further(frame, scale=0.7):
  """The camera further away: the picture shrunk into the middle of the same frame, its
  border replicated around it."""
  h, w = frame.shape[:2]
  small = cv2.resize(frame, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
  top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
  return cv2.copyMakeBorder(small, top, h - small.shape[0] - top, left,
                            w - small.shape[1] - left, cv2.BORDER_REPLICATE)


def blurred(frame):
  return cv2.GaussianBlur(frame, (0, 0), 1.0)


CHANGES = {'darkened': (darkened, {'brightness'}), 'further': (further, {'face_size'}),
           'blurred': (blurred, {'sharpness'})}


@pytest.fixture(scope='module')
def training(tmp_path_factory):
  """A pipeline root whose train split is synthetic subjects, all of source yfp."""
  root = tmp_path_factory.mktemp('training')
  rows = ['path,subject_id,label,source,side']
  for n in range(TRAIN_SUBJECTS):
    write_video(str(root / f's{n:03d}.mp4'), subject_frames(n % 6, FRAMES, seed=n), fps=25)
    rows.append(f's{n:03d}.mp4,t{n:03d},{"I II III IV V VI".split()[n % 6]},yfp,left')
  (root / 'manifest.csv').write_text('\n'.join(rows) + '\n')
  metadata = local_runner.run(
      str(root / 'pipeline'), DataOptions(str(root / 'manifest.csv'),
                                          ingest_image_size=IMAGE_SIZE),
      stop_after='validate',
      runtime=RuntimeOptions(beam_args=('--direct_running_mode=multi_processing',
                                        '--direct_num_workers=2')))
  uri = ingest_fixtures.examples_uri(metadata)
  with open(os.path.join(uri, 'crop_settings.json')) as f:
    record = crop_settings.from_dict(json.load(f))
  return {'root': str(root / 'pipeline'), 'record': record, 'metadata': metadata}


def graded(folder, record, change=None, first_seed=100, subjects=GRADED_SUBJECTS) -> str:
  """Grade new subjects' videos, ``change`` applied to every frame, as predict does;
  returns the --output-json file."""
  os.makedirs(folder, exist_ok=True)
  paths = []
  for n in range(first_seed, first_seed + subjects):
    frames = subject_frames(n % 6, FRAMES, seed=n)
    path = os.path.join(folder, f'patient-{n}.mp4')
    write_video(path, [change(f) if change else f for f in frames], fps=25)
    paths.append(path)
  results = grade.predict_files(paths, CyclingGrader(), record, source='yfp')
  assert all(r.error is None for r in results)
  out = os.path.join(folder, 'graded.json')
  output.write_json(results, out)
  return out


@pytest.fixture(scope='module')
def like_training(training, tmp_path_factory):
  return graded(str(tmp_path_factory.mktemp('like')), training['record'])


def test_the_training_examples_pass_the_schema_with_their_descriptors(training):
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from components.anomaly_gate import describe_anomalies  # pylint: disable=g-import-not-at-top
  from components.video_ingest import splits  # pylint: disable=g-import-not-at-top
  from pipeline.runners import artifacts  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(artifacts.sqlite_config(training['metadata']))
  [anomalies] = store.get_artifacts_by_type('ExampleAnomalies')
  assert describe_anomalies(anomalies.uri, splits.SPLIT_NAMES) == []


def test_inputs_like_the_training_data_do_not_drift(training, like_training, tmp_path, capsys):
  out = str(tmp_path / 'report')
  code = cli.main(['monitor', '--baseline', training['root'], '--graded', like_training,
                   '--output', out])
  printed = capsys.readouterr().out
  assert code == 0, printed
  assert 'no drift in the 5 descriptors compared' in printed
  result = json.load(open(os.path.join(out, monitor.RESULT_FILE)))
  assert result['drift'] is False
  assert {f['name'] for f in result['features']} == {
      'face_size', 'face_score', 'brightness', 'contrast', 'sharpness'}
  assert all(f['value'] < f['threshold'] for f in result['features'])
  assert result['graded_inputs'] == GRADED_SUBJECTS and result['graded_frames'] >= 100
  # The per-input descriptors have no training statistics, and the page says so.
  assert set(result['not_compared']) == {'frames_sampled', 'faces_found', 'confidence', 'grade'}
  page = open(os.path.join(out, monitor.PAGE_FILE)).read()
  assert 'No drift' in page and '<img' not in page


@pytest.mark.parametrize('change', sorted(CHANGES))
def test_a_change_drifts_its_own_descriptor_and_no_other(change, training, tmp_path, capsys,
                                                         pseudonym_key):
  transform, expected = CHANGES[change]
  path = graded(str(tmp_path / change), training['record'], transform)
  out = str(tmp_path / 'report')
  code = cli.main(['monitor', '--baseline', training['root'], '--graded', path, '--output', out])
  printed = capsys.readouterr().out
  assert code == 1, printed
  result = json.load(open(os.path.join(out, monitor.RESULT_FILE)))
  measured = {f['name']: round(f['value'], 3) for f in result['features']}
  assert {f['name'] for f in result['features'] if f['drift']} == expected, measured
  [name] = expected
  assert f'DRIFT in 1 descriptor:\n  {name}: ' in printed
  page = open(os.path.join(out, monitor.PAGE_FILE)).read()
  assert page.count('<img') == 1 and f'id="feature-{name}"' in page
  # Inputs named by row and pseudonym: no path, no file name of a patient's recording.
  assert 'patient-' not in page and str(tmp_path) not in page
  paths = [record['path'] for record in json.load(open(path))]
  named = [p for p in paths if pseudonyms.video_id(pseudonym_key, p) in page]
  assert len(named) == page_module.FURTHEST  # the inputs furthest off, by pseudonym
  assert 'random key of this run' not in page


def test_the_statistics_artifact_folder_is_a_baseline_too(training, like_training, tmp_path):
  """The way in for a Kubeflow run: the StatisticsGen artifact itself, without MLMD."""
  from pipeline.runners import artifacts  # pylint: disable=g-import-not-at-top
  found = artifacts.newest_artifact(artifacts.sqlite_config(training['metadata']),
                                    'ExampleStatistics')
  by_root = monitor.run(training['root'], like_training, output=str(tmp_path / 'a'))
  by_folder = monitor.run(found.uri, like_training, output=str(tmp_path / 'b'))
  assert ([(f.name, f.value) for f in by_root.comparison.features] ==
          [(f.name, f.value) for f in by_folder.comparison.features])


def test_an_earlier_grading_as_baseline(training, like_training, tmp_path):
  """Frames against frames; the per-input descriptors need more inputs than these 20 on
  each side (tests/test_monitor_inputs.py compares them)."""
  later = graded(str(tmp_path / 'later'), training['record'], first_seed=300)
  outcome = monitor.run(like_training, later, output=str(tmp_path / 'report'))
  compared = {f.name: f for f in outcome.comparison.features}
  assert set(compared) == {'face_size', 'face_score', 'brightness', 'contrast', 'sharpness'}
  assert not outcome.comparison.drifted, [(f.name, f.value) for f in compared.values()]
  assert set(outcome.comparison.not_compared) == {'frames_sampled', 'faces_found',
                                                  'confidence', 'grade'}
  assert all(f'fewer than {drift.MIN_INPUTS}' in why
             for why in outcome.comparison.not_compared.values())
