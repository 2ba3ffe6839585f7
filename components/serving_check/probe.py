"""The ServingCheck's fresh process: load the candidate as TF Serving does, replay its
warmup requests, compare with the Trainer's responses, and time it.

Why a fresh process: the Trainer's process (or a component's, which may have TensorFlow
state from earlier work) can answer from objects that never reached the SavedModel; a
process that starts from the files alone sees what a server sees. It reads the
``signature_def``s from ``saved_model.pb``'s MetaGraph tagged ``serve``, loads with that
tag and calls every signature by name, and runs on the CPU, as the serving kit's
``tensorflow/serving`` image does (kubeflow/serving/). It never imports Keras or the
Trainer.

``run`` (the executor's side) starts ``python -m components.serving_check.probe MODEL_DIR
SETTINGS_JSON REPORT_JSON`` and reads the report back; a process that dies before it
reports (a crash in the loader, out of memory, the timeout) is a refusal that names the
exit and the end of its stderr.
"""
import json
import os
import posixpath
import subprocess
import sys
import time
from typing import Dict

import numpy as np

from components.serving_check import check
from preprocessing import contract

SERVE_TAG = 'serve'
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_STDERR_TAIL = 2000


# --- the fresh process --------------------------------------------------------------

def signature_inputs(model_dir: str) -> Dict[str, Dict[str, int]]:
  """signature -> input name -> DataType enum, from saved_model.pb's ``serve`` MetaGraph,
  as TF Serving reads them before it loads anything."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  path = posixpath.join(model_dir, 'saved_model.pb')
  with tf.io.gfile.GFile(path, 'rb') as f:
    saved = saved_model_pb2.SavedModel.FromString(f.read())
  graphs = [g for g in saved.meta_graphs if SERVE_TAG in g.meta_info_def.tags]
  if not graphs:
    raise ValueError(f'{path}: no MetaGraph tagged {SERVE_TAG!r}')
  return {name: {key: info.dtype for key, info in sig.inputs.items()}
          for name, sig in graphs[0].signature_def.items()
          if not name.startswith('__')}  # __saved_model_init_op: no signature clients call


def _first_line(err: BaseException) -> str:
  text = str(err).strip().splitlines()
  return f'{type(err).__name__}: {text[0] if text else ""}'


def probe(model_dir: str, settings: check.Settings) -> dict:
  """Everything the check measures, in a report (``check.new_report``); stops at the
  first stage that refuses."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from preprocessing import warmup  # pylint: disable=g-import-not-at-top
  report = check.new_report(model_dir)
  reasons = report['reasons']
  try:
    inputs_by_signature = signature_inputs(model_dir)
  except Exception as err:  # pylint: disable=broad-except
    reasons.append(f'{model_dir}: not readable as a SavedModel ({_first_line(err)})')
    return report
  report['signatures'] = sorted(inputs_by_signature)
  reasons.extend(check.missing_signatures(inputs_by_signature))
  if reasons:
    return report
  start = time.perf_counter()
  try:
    loaded = tf.saved_model.load(model_dir, tags=[SERVE_TAG])
  except Exception as err:  # pylint: disable=broad-except
    reasons.append(f'{model_dir}: failed to load with tag {SERVE_TAG!r} '
                   f'({_first_line(err)})')
    return report
  report['load_seconds'] = time.perf_counter() - start
  requests_path = posixpath.join(model_dir, contract.WARMUP_FILE)
  responses_path = posixpath.join(model_dir, contract.WARMUP_RESPONSES_FILE)
  try:
    logs = warmup.read_requests(requests_path)
    expected = warmup.read_responses(responses_path)
  except warmup.WarmupError as err:
    reasons.append(str(err) + ('' if tf.io.gfile.exists(requests_path) else
                               ': the model carries no warmup requests, so TF Serving would '
                               'start it cold (the Trainer writes them; trainer/export.py)'))
    return report
  if len(expected) != len(logs):
    reasons.append(f'{responses_path}: {len(expected)} responses for {len(logs)} warmup '
                   'requests')
    return report
  first_inputs, named, differences = {}, set(), {}
  for i, (log, answer) in enumerate(zip(logs, expected)):
    where = f'{requests_path}: record {i}'
    if log.WhichOneof('log_type') != 'predict_log':
      reasons.append(f'{where} is a {log.WhichOneof("log_type")}, not a predict_log (the '
                     'signatures take Predict requests)')
      continue
    request = log.predict_log.request
    name = request.model_spec.signature_name or contract.SERVING_DEFAULT
    named.add(name)
    problem = check.request_problem(
        name, {k: v.dtype for k, v in request.inputs.items()}, inputs_by_signature)
    if problem:
      reasons.append(f'{where}: {problem}')
      continue
    inputs = warmup.request_inputs(request)
    try:
      outputs = loaded.signatures[name](**inputs)
    except Exception as err:  # pylint: disable=broad-except
      reasons.append(f'{where}: {name} failed ({_first_line(err)})')
      continue
    report['warmup_requests'] += 1
    first_inputs.setdefault(name, inputs)
    largest, problems = check.compare({k: v.numpy() for k, v in outputs.items()},
                                      warmup.response_outputs(answer), settings.tolerance)
    differences[name] = max(differences.get(name, 0.0), largest)
    reasons.extend(f'{name} (warmup record {i}): {p}' for p in problems)
  report['max_difference'] = {k: check.finite_or_none(v) for k, v in differences.items()}
  reasons.extend(check.unreplayed_signatures(named))
  if reasons:
    return report
  for name, inputs in sorted(first_inputs.items()):
    function = loaded.signatures[name]
    for batch in check.BATCH_SIZES:
      batched = {k: tf.constant(np.resize(v.numpy(), (batch,) + tuple(v.shape[1:])),
                                dtype=v.dtype) for k, v in inputs.items()}
      seconds = []
      for _ in range(settings.latency_requests):
        start = time.perf_counter()
        for value in function(**batched).values():
          value.numpy()  # the answer in hand, as a server must have it to reply
        seconds.append(time.perf_counter() - start)
      report['latency_ms'].setdefault(name, {})[str(batch)] = check.latency(seconds)
  reasons.extend(check.latency_problems(report['latency_ms'], settings))
  return report


def main(argv) -> None:
  model_dir, settings_json, report_path = argv
  report = probe(model_dir, check.Settings.from_json(settings_json))
  with open(report_path, 'w', encoding='utf-8') as f:
    json.dump(report, f, indent=2)


# --- the executor's side ------------------------------------------------------------

def run(model_dir: str, settings: check.Settings, work_dir: str) -> dict:
  """The report of a fresh process that probes ``model_dir`` (``probe``)."""
  os.makedirs(work_dir, exist_ok=True)
  report_path = os.path.join(work_dir, 'probe_report.json')
  if os.path.exists(report_path):
    os.remove(report_path)
  env = {**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'TF_CPP_MIN_LOG_LEVEL': '2',
         # The same code as this process, installed or from a checkout.
         'PYTHONPATH': os.pathsep.join(
             [_PACKAGE_ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
                                if p])}
  command = [sys.executable, '-m', 'components.serving_check.probe', model_dir,
             settings.to_json(), report_path]
  try:
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=settings.timeout_seconds, check=False)
  except subprocess.TimeoutExpired:
    report = check.new_report(model_dir)
    report['reasons'].append(f'the fresh process that loads {model_dir} did not finish in '
                             f'{settings.timeout_seconds} s')
    return report
  if done.returncode == 0 and os.path.exists(report_path):
    with open(report_path, encoding='utf-8') as f:
      return json.load(f)
  report = check.new_report(model_dir)
  report['reasons'].append(
      f'the fresh process that loads {model_dir} exited with code {done.returncode} '
      f'before it reported; its stderr ends: {done.stderr[-_STDERR_TAIL:].strip()}')
  return report


if __name__ == '__main__':
  main(sys.argv[1:])
