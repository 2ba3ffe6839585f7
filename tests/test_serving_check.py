"""The ServingCheck (components/serving_check/): a good model is blessed; a model whose
signature was renamed, one that fails to load, one whose outputs differ from the
Trainer's, one without warmup requests and one over the latency limit are each refused
with the reason; a model the Evaluator refused is refused unloaded; and then the Pusher
writes nothing.

Nothing is mocked: the real executors (the ServingCheck's, which starts a fresh Python
process, and the CardPusher's, which is TFX's Pusher) on real SavedModels exported by
``trainer.export`` (tests/tiny_model.py), and at the end a LocalDagRunner pipeline that
wires Importer -> ServingCheck -> Pusher as pipeline/pipeline.py does.
"""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.model_card import pusher
from components.serving_check import check, executor, probe
from components.serving_check.component import ServingCheck
from components.serving_check.settings import Settings
from preprocessing import contract
from tests import tiny_model

SERVING = 'Format-Serving'  # where a Model artifact keeps the SavedModel
# Exports models and starts fresh processes.
slow = pytest.mark.slow


# --- the pure core: fast ------------------------------------------------------------

def test_compare_holds_numbers_to_the_tolerance_and_the_rest_to_equality():
  expected = {'p': np.array([[0.5, 0.5]], np.float32), 'grade': np.array([b'normal'], object),
              'ood': np.array([np.nan], np.float32)}
  same = {'p': expected['p'] + 5e-6, 'grade': np.array([b'normal'], object),
          'ood': np.array([np.nan], np.float32)}
  largest, reasons = check.compare(same, expected, 1e-5)
  assert reasons == [] and largest == pytest.approx(5e-6, rel=1e-2)
  _, reasons = check.compare({**same, 'p': expected['p'] + 3e-5}, expected, 1e-5)
  assert reasons == ["p differs from the Trainer's by up to 3e-05 (tolerance 1e-05)"]
  _, reasons = check.compare({**same, 'ood': np.array([1.0])}, expected, 1e-5)
  assert reasons == ["ood differs from the Trainer's by up to inf (tolerance 1e-05)"]
  _, reasons = check.compare({**same, 'grade': np.array([b'mild'], object)}, expected, 1e-5)
  assert reasons == ["grade differs from the Trainer's: ['mild'] against ['normal']"]
  _, reasons = check.compare({'p': same['p']}, expected, 1e-5)
  assert reasons == ["outputs ['p'], the Trainer's ['grade', 'ood', 'p']"]


def test_missing_signatures_and_refused_requests_are_named():
  assert check.missing_signatures(contract.SIGNATURES) == []
  [reason] = check.missing_signatures(['serving_default', 'serving_explain', 'images_v2'])
  assert "'serving_images' is missing" in reason and 'images_v2' in reason
  inputs = {'serving_images': {'images': 7}}
  assert check.request_problem('serving_images', {'images': 7}, inputs) is None
  assert check.request_problem('other', {'images': 7}, inputs) == (
      'Serving signature key "other" not found.')
  assert 'takes inputs' in check.request_problem('serving_images', {'crops': 7}, inputs)
  assert 'DataType' in check.request_problem('serving_images', {'images': 1}, inputs)


def test_latency_percentiles_and_the_limit():
  stats = check.latency([0.001] * 99 + [0.101])
  assert stats['median'] == pytest.approx(1.0) and stats['p99'] == pytest.approx(2.0)
  measured = {'serving_images': {'1': stats, '32': {'requests': 5, 'median': 9, 'p99': 30}}}
  assert check.latency_problems(measured, Settings(max_p99_ms=(2.5, 40))) == []
  [reason] = check.latency_problems(measured, Settings(max_p99_ms=(1.5, 40)))
  assert reason.startswith('serving_images at batch 1: p99 latency 2.0 ms over the limit 1.5 ms')


@pytest.mark.parametrize('fields, message', [
    ({'tolerance': -1}, 'tolerance'), ({'latency_requests': 0}, 'latency_requests'),
    ({'max_p99_ms': (1.0,)}, 'max_p99_ms'), ({'max_p99_ms': (1.0, 0.0)}, 'max_p99_ms'),
    ({'timeout_seconds': 0}, 'timeout_seconds')])
def test_bad_settings_fail_when_the_pipeline_is_built(fields, message):
  with pytest.raises(ValueError, match=message):
    Settings(**fields)
  if 'max_p99_ms' not in fields:
    with pytest.raises(ValueError, match=message):
      ServingCheck(model=types.Channel(type=standard_artifacts.Model), **fields)


# --- the executors on real models ---------------------------------------------------

def _renamed(good: str, out: str) -> None:
  """The model saved again with serving_images renamed, its assets.extra kept."""
  loaded = tf.saved_model.load(good)
  signatures = dict(loaded.signatures)
  signatures['predict_images'] = signatures.pop(contract.SERVING_IMAGES)
  tf.saved_model.save(loaded, out, signatures=signatures)
  shutil.copytree(os.path.join(good, 'assets.extra'), os.path.join(out, 'assets.extra'))


@pytest.fixture(scope='module')
def models(tmp_path_factory):
  """Model artifact folders: the model in ``<uri>/Format-Serving``."""
  root = tmp_path_factory.mktemp('models')
  good = tiny_model.save(str(root / 'good' / SERVING))
  other = tiny_model.save(str(root / 'other' / SERVING), seed=1)
  _renamed(good, str(root / 'renamed' / SERVING))
  # Fails to load: its variables are cut short.
  shutil.copytree(good, root / 'unloadable' / SERVING)
  [data] = [p for p in (root / 'unloadable' / SERVING / 'variables').iterdir()
            if p.name.startswith('variables.data')]
  data.write_bytes(data.read_bytes()[:64])
  # Outputs differ: the same graph with another model's weights, so it no longer answers
  # what the Trainer answered for its warmup requests.
  shutil.copytree(good, root / 'differs' / SERVING)
  shutil.rmtree(root / 'differs' / SERVING / 'variables')
  shutil.copytree(os.path.join(other, 'variables'), root / 'differs' / SERVING / 'variables')
  # No warmup requests: exported as before the warmup file existed.
  shutil.copytree(good, root / 'cold' / SERVING)
  for name in (contract.WARMUP_FILE, contract.WARMUP_RESPONSES_FILE):
    os.remove(root / 'cold' / SERVING / name)
  return {name: str(root / name) for name in
          ('good', 'renamed', 'unloadable', 'differs', 'cold')} | {'root': str(root)}


def _check_and_push(model_uri: str, work: str, evaluator_blessed: bool = True, **params):
  """The ServingCheck's executor, then the Pusher's with its InfraBlessing: (InfraBlessing,
  report, PushedModel, push destination)."""
  os.makedirs(work)
  model = standard_artifacts.Model()
  model.uri = model_uri
  judged = standard_artifacts.ModelBlessing()
  judged.set_int_custom_property('blessed', int(evaluator_blessed))
  infra = standard_artifacts.InfraBlessing()
  infra.uri = os.path.join(work, 'infra')
  os.makedirs(infra.uri)
  context = base_executor.BaseExecutor.Context(tmp_dir=os.path.join(work, 'tmp'),
                                               unique_id='1')
  properties = ServingCheck(model=types.Channel(type=standard_artifacts.Model),
                            **params).exec_properties
  executor.Executor(context).Do({'model': [model], 'model_blessing': [judged]},
                                {'blessing': [infra]}, properties)
  with open(os.path.join(infra.uri, check.REPORT_FILE)) as f:
    report = json.load(f)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = os.path.join(work, 'pushed')
  destination = os.path.join(work, 'serving', 'palsy')
  push_to = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=destination))
  pusher.Executor(context).Do(
      {'model': [model], 'model_blessing': [judged], 'infra_blessing': [infra]},
      {'pushed_model': [pushed]}, {'push_destination': proto_utils.proto_to_json(push_to)})
  return infra, report, pushed, destination


@pytest.fixture(scope='module')
def checked(models):
  work = os.path.join(models['root'], 'work')
  runs = {name: _check_and_push(models[name], os.path.join(work, name))
          for name in ('good', 'renamed', 'unloadable', 'differs', 'cold')}
  runs['slow'] = _check_and_push(models['good'], os.path.join(work, 'slow'),
                                 latency_requests=5, max_p99_ms_batch_32=1e-3)
  # The Evaluator refused it: not loaded at all, so a folder that holds no model at all
  # gets the same verdict (a check that ran would say the folder is no SavedModel).
  runs['unblessed'] = _check_and_push(os.path.join(work, 'nothing-here'),
                                      os.path.join(work, 'unblessed'), evaluator_blessed=False)
  return runs


def _is_refused(run):
  infra, report, pushed, destination = run
  assert infra.get_int_custom_property(executor.BLESSED_PROPERTY) == 0
  assert sorted(os.listdir(infra.uri)) == [executor.NOT_BLESSED_FILE, check.REPORT_FILE]
  assert infra.get_string_custom_property(executor.REASON_PROPERTY) == '; '.join(
      report['reasons'])
  assert pushed.get_int_custom_property('pushed') == 0  # the Pusher wrote nothing
  assert not os.path.exists(destination)
  return report['reasons']


@slow
def test_a_good_model_is_blessed_and_pushed(checked):
  infra, report, pushed, destination = checked['good']
  assert report['reasons'] == [] and report['checked']
  assert infra.get_int_custom_property(executor.BLESSED_PROPERTY) == 1
  assert sorted(os.listdir(infra.uri)) == [executor.BLESSED_FILE, check.REPORT_FILE]
  assert report['warmup_requests'] == len(contract.SIGNATURES)
  assert set(report['max_difference']) == set(contract.SIGNATURES)
  assert all(d <= 1e-5 for d in report['max_difference'].values())
  for name in contract.SIGNATURES:
    for batch in ('1', '32'):
      stats = report['latency_ms'][name][batch]
      assert stats['requests'] == Settings().latency_requests
      assert 0 < stats['median'] <= stats['p99']
  assert pushed.get_int_custom_property('pushed') == 1
  [version] = os.listdir(destination)
  assert os.path.exists(os.path.join(destination, version, contract.WARMUP_FILE))


@slow
def test_a_renamed_signature_is_refused(checked):
  [reason] = _is_refused(checked['renamed'])
  assert "signature 'serving_images' is missing" in reason and 'predict_images' in reason


@slow
def test_a_model_that_fails_to_load_is_refused(checked):
  [reason] = _is_refused(checked['unloadable'])
  assert "failed to load with tag 'serve'" in reason
  assert os.path.join('unloadable', SERVING) in reason  # names the model


@slow
def test_a_model_whose_outputs_differ_is_refused(checked):
  reasons = _is_refused(checked['differs'])
  assert any(r.startswith('serving_images (warmup record 1): probabilities differs from the '
                          "Trainer's by up to") for r in reasons), reasons
  assert {r.split(' ')[0] for r in reasons} == set(contract.SIGNATURES)


@slow
def test_a_model_without_warmup_requests_is_refused(checked):
  [reason] = _is_refused(checked['cold'])
  assert f'{contract.WARMUP_FILE}: no such file: the model carries no warmup requests' in reason


@slow
def test_a_model_over_the_latency_limit_is_refused(checked):
  reasons = _is_refused(checked['slow'])
  assert len(reasons) == len(contract.SIGNATURES)  # batch 32 of each; batch 1's limit holds
  assert all(' at batch 32: p99 latency ' in r and 'over the limit 0.001 ms' in r
             for r in reasons)


@slow
def test_a_model_the_evaluator_refused_is_refused_unchecked(checked):
  [reason] = _is_refused(checked['unblessed'])
  assert reason == 'the Evaluator did not bless this model, so it was not checked'
  assert checked['unblessed'][1]['checked'] is False


@slow
def test_a_fresh_process_that_dies_is_a_refusal_with_its_stderr(models, tmp_path):
  """A crash the probe cannot report (here, a timeout of one second, shorter than
  TensorFlow's import) still refuses, and says why."""
  report = probe.run(os.path.join(models['good'], SERVING), Settings(timeout_seconds=1),
                     str(tmp_path))
  assert report['reasons'] == [f'the fresh process that loads '
                               f'{os.path.join(models["good"], SERVING)} did not finish in 1 s']


# --- wired as pipeline/pipeline.py wires it -----------------------------------------

def _pipeline(root: str, model_uri: str):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  model = tfx.dsl.Importer(
      source_uri=model_uri, artifact_type=standard_artifacts.Model,
      custom_properties={'tfx_version': '1.16.0'}).with_id('model')  # a current artifact
  judged = tfx.dsl.Importer(
      source_uri=os.path.join(root, 'blessing'), artifact_type=standard_artifacts.ModelBlessing,
      custom_properties={'blessed': 1}).with_id('blessing')
  serving_check = ServingCheck(model=model.outputs['result'],
                               model_blessing=judged.outputs['result'], latency_requests=5)
  push = pusher.CardPusher(
      model=model.outputs['result'], model_blessing=judged.outputs['result'],
      infra_blessing=serving_check.outputs['blessing'],
      push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
          base_directory=os.path.join(root, 'serving', 'palsy')))).with_id('Pusher')
  return tfx.dsl.Pipeline(
      pipeline_name='serving-check', pipeline_root=os.path.join(root, 'pipeline'),
      components=[model, judged, serving_check, push], enable_cache=False,
      metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
          os.path.join(root, 'metadata.sqlite')))


@pytest.mark.slow  # two LocalDagRunner runs
@pytest.mark.parametrize('name, pushed', [('good', True), ('renamed', False)])
def test_in_a_pipeline_the_pusher_pushes_only_what_passed(models, tmp_path, name, pushed):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  tfx.orchestration.LocalDagRunner().run(_pipeline(str(tmp_path), models[name]))
  serving = tmp_path / 'serving' / 'palsy'
  versions = os.listdir(serving) if serving.exists() else []
  assert len(versions) == int(pushed)
  [infra] = (tmp_path / 'pipeline' / 'ServingCheck' / 'blessing').iterdir()
  marker = executor.BLESSED_FILE if pushed else executor.NOT_BLESSED_FILE
  assert (infra / marker).exists()
