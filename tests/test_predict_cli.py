"""``palsy-tfx predict --model`` on a real SavedModel exported by ``trainer.export``:
outputs, exit codes, Grad-CAM strips and the clear failures of a model or flags that cannot
work; and ``--rest``/``--grpc`` with ``--label`` and ``--explain`` against the loopback
stand-in for TF Serving (tests/serving_standin.py; no TF Serving binary exists here)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main as cli
from pipeline.predict import explain, saved_model
from preprocessing import crop_settings, face_frames
from preprocessing.labels import GRADES
from preprocessing.media_writer import write_video
from tests import tiny_model
from tests.conftest import subject_frames, write_jpeg
from tests.serving_standin import ModelServer


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  return tiny_model.save(str(tmp_path_factory.mktemp('model') / '1'))


@pytest.fixture(scope='module')
def media(tmp_path_factory, no_face_images):
  root = tmp_path_factory.mktemp('media')
  paths = {'video': str(root / 'face.mp4'), 'still': str(root / 'still.png'),
           'coffee': str(root / 'coffee.jpg'), 'missing': str(root / 'missing.mov')}
  write_video(paths['video'], subject_frames(1, 25, seed=2), fps=25)  # 1 s: 5 frames at 5 fps
  write_jpeg(paths['still'], subject_frames(5, 1, seed=4)[0])
  write_jpeg(paths['coffee'], no_face_images['coffee'])
  return paths


def test_the_saved_model_grader_calls_serving_images(model, media):
  grader = saved_model.SavedModelGrader(model)
  found = list(face_frames.face_frames(media['video'], 'video', 5.0, tiny_model.CROP))
  jpegs = [f.crop.jpeg for f in found]
  probs = grader.scores(jpegs).probabilities
  assert probs.shape == (5, 6) and probs.dtype == np.float32
  assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
  # The same crop gives the same row alone as in a batch.
  assert np.allclose(grader.scores(jpegs[2:3]).probabilities[0], probs[2], atol=1e-6)
  assert grader.scores([]).probabilities.shape == (0, 6)


def test_graded_and_failed_inputs_side_by_side(model, media, tmp_path, capsys):
  out_json, out_csv = str(tmp_path / 'out.json'), str(tmp_path / 'frames.csv')
  paths = [media['video'], media['coffee'], media['still'], media['missing']]
  code = cli.main(['predict', *paths, '--model', model, '--source', 'YFP',
                   '--output-json', out_json, '--frames-csv', out_csv])
  assert code == 0
  captured = capsys.readouterr()
  with open(out_json) as f:
    results = json.load(f)
  assert [r['path'] for r in results] == paths
  assert [r['error'] for r in results] == [None, 'no face found in the still', None,
                                           'file not found']
  assert [r['frames_sampled'] for r in results] == [5, 1, 1, 0]
  video = results[0]
  assert video['grade'] == GRADES[int(np.argmax(video['probabilities']))]
  # The grade pools the frames by the mean of their probabilities.
  frames = np.array([f['probabilities'] for f in video['frames']])
  assert np.allclose(frames.mean(axis=0), video['probabilities'], atol=1e-6)
  with open(out_csv) as f:
    assert len(f.read().splitlines()) == 1 + 5 + 1 + 1
  table = captured.out.splitlines()
  assert table[0].startswith('input') and len(table) == 1 + 4 + 1 + 2 + 1
  assert table[1].startswith(media['video']) and video['grade'] in table[1]
  assert '2 of 4 inputs graded' in table[-1]
  assert '[predict]' not in captured.out  # progress goes to stderr
  assert 'videos sampled at 5 fps (source yfp' in captured.err
  assert (f'[predict] 4/4 {media["missing"]}: 0 frames sampled, 0 faces, NOT GRADED: '
          'file not found') in captured.err


def test_nothing_graded_exits_1(model, media, tmp_path, capsys):
  out_json = str(tmp_path / 'out.json')
  assert cli.main(['predict', media['coffee'], media['missing'], '--model', model,
                   '--output-json', out_json]) == 1
  with open(out_json) as f:
    assert [r['grade'] for r in json.load(f)] == [None, None]
  assert '0 of 2 inputs graded' in capsys.readouterr().out


@pytest.mark.parametrize('flags,message', [
    (['--rest', 'http://localhost:8501'], '--rest needs --model-info'),
    (['--grpc', 'localhost:8500'], '--grpc needs --model-info'),
    (['--model', '{model}', '--model-info', '{model}'], '--model-info is for --rest and --grpc'),
    (['--model', '{old}'], 'does not record how the faces were cropped'),
    (['--model', '{nothing}'], 'palsy_model.json not found'),
    (['--model', '{not_saved_model}'], 'cannot load the SavedModel'),
    (['--model', '{no_explain}', '--explain', '{tmp}'], 'has no serving_explain signature'),
    (['--model', '{model}', '--version', '1'], '--version and --label pick a version'),
    (['--model', '{model}', '--label', 'stable'], '--version and --label pick a version'),
])
def test_a_model_that_cannot_work_is_a_usage_error(model, media, tmp_path, capsys, flags,
                                                   message):
  old = tiny_model.save(str(tmp_path / 'old'), with_crop_record=False)
  not_saved_model = str(tmp_path / 'info_only')
  os.makedirs(os.path.join(not_saved_model, 'assets.extra'))
  with open(os.path.join(not_saved_model, crop_settings.MODEL_INFO_FILE), 'w') as f:
    json.dump({'crop_settings': json.loads(crop_settings.to_json(tiny_model.CROP, {}, 3))}, f)
  where = {'model': model, 'old': old, 'nothing': str(tmp_path),
           'not_saved_model': not_saved_model, 'tmp': str(tmp_path / 'strips'),
           'no_explain': ''}
  if '{no_explain}' in flags:
    where['no_explain'] = tiny_model.without_explain(model, str(tmp_path / 'no_explain'))
  argv = ['predict', media['still'], *[f.format(**where) for f in flags]]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert err.startswith('palsy-tfx predict: error: ') and message in err


@pytest.mark.parametrize('flags', [[], ['--model', 'm', '--rest', 'http://h:8501'],
                                   ['--rest', 'http://h:8501', '--version', '1', '--label', 'a']])
def test_exactly_one_model_flag(flags, media):
  with pytest.raises(SystemExit) as e:
    cli.build_parser().parse_args(['predict', media['still'], *flags])
  assert e.value.code == 2


def _panels(png_path: str) -> int:
  with Image.open(png_path) as image:
    assert image.format == 'PNG'
    width = image.width
  assert width % (explain.PANEL_INCHES * 100) == 0
  return int(width // (explain.PANEL_INCHES * 100))


def test_explain_writes_a_strip_per_graded_input(model, media, tmp_path, capsys):
  strips = tmp_path / 'strips'
  paths = [media['video'], media['coffee'], media['still']]
  assert cli.main(['predict', *paths, '--model', model, '--source', 'yfp',
                   '--explain', str(strips)]) == 0
  assert sorted(os.listdir(strips)) == ['face.png', 'still.png']  # not the faceless coffee
  assert _panels(str(strips / 'face.png')) == 5  # the video's 5 frames, all with a face
  assert _panels(str(strips / 'still.png')) == 1
  assert os.path.getsize(strips / 'face.png') > 20_000  # five drawn crops, not a blank page
  err = capsys.readouterr().err
  assert f'[explain] {media["video"]}: {strips / "face.png"}' in err
  assert media['coffee'] not in err.split('[explain]', 1)[1]


def _asked(server, kind):
  """(signature, version asked: REST path or gRPC label) of each request the server got."""
  if kind == 'rest':
    return [(json.loads(r['body'])['signature_name'], r['path']) for r in server.rest_requests]
  return [(r.model_spec.signature_name, r.model_spec.version_label)
          for r in server.grpc_requests]


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['rest', 'grpc'])
def test_a_server_grades_and_explains_as_the_model_does(kind, model, media, tmp_path):
  """Through the stand-in for TF Serving, serving the same model as version 1."""
  local_json = str(tmp_path / 'local.json')
  assert cli.main(['predict', media['video'], '--model', model, '--output-json', local_json,
                   '--explain', str(tmp_path / 'local')]) == 0
  with ModelServer(os.path.dirname(model), labels={'stable': 1}) as server:
    where = ['--rest', server.rest_url] if kind == 'rest' else ['--grpc', server.grpc_target]
    served_json = str(tmp_path / 'served.json')
    assert cli.main(['predict', media['video'], *where, '--label', 'stable', '--model-info',
                     model, '--output-json', served_json,
                     '--explain', str(tmp_path / 'served')]) == 0
    label = '/v1/models/palsy/labels/stable:predict' if kind == 'rest' else 'stable'
    assert _asked(server, kind) == [('serving_images', label), ('serving_explain', label)]
    assert cli.main(['predict', media['video'], *where, '--label', 'beta', '--model-info',
                     model]) == 1  # the label reaches the server, which knows no beta
  with open(local_json) as f, open(served_json) as g:
    local, served = json.load(f)[0], json.load(g)[0]
  np.testing.assert_allclose([fr['probabilities'] for fr in served['frames']],
                             [fr['probabilities'] for fr in local['frames']], atol=1e-6)
  # The same referral: the rule and its thresholds come from the model's record each way.
  assert (served['refer'], served['refer_reasons']) == (local['refer'], local['refer_reasons'])
  for name in ('confidence', 'ood_score', 'ood_share'):
    assert served[name] == (None if local[name] is None else
                            pytest.approx(local[name], abs=1e-6)), name
  assert _panels(str(tmp_path / 'served' / 'face.png')) == 2  # 1 s at the default 2 fps
  with Image.open(tmp_path / 'local' / 'face.png') as a, \
       Image.open(tmp_path / 'served' / 'face.png') as b:
    assert np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() < 1  # the same strip
