"""The ``palsy-tfx`` command line.

Only light modules are imported here: ``--help`` and a mistyped option answer at once,
and TensorFlow loads (inside the subcommands) after the log levels are set.
"""
import argparse
import dataclasses
import json
import os
import sys

from components.video_ingest import splits
from pipeline import configs, kubeflow_cli, options
from preprocessing import logs


def _sample_data(args) -> int:
  from pipeline.sample_data import write_sample_data  # pylint: disable=g-import-not-at-top
  counts = write_sample_data(args.output, per_grade=args.subjects_per_grade,
                             seconds=args.seconds)
  print(f'wrote {counts["rows"]} media files for {counts["subjects"]} synthetic subjects '
        f'to {args.output}/manifest.csv (demo data, NOT clinical data)')
  return 0


def _pipeline_options(args) -> dict:
  """The options ``run`` and ``leakage`` share, read and checked now, so that a bad
  preset, manifest, option or pseudonym key fails before any work starts (ValueError:
  ManifestError and PseudonymKeyError among them). The manifest's fingerprint and
  grades are read here too."""
  from components.video_ingest import pseudonyms  # pylint: disable=g-import-not-at-top
  from pipeline import local_runner  # pylint: disable=g-import-not-at-top
  model = options.ModelOptions.from_args(args)  # before the manifest is read
  runtime = options.RuntimeOptions.from_args(args)
  data = local_runner.local_data(options.DataOptions.from_args(args),
                                 runtime.beam_pipeline_args(configs.LOCAL_BEAM_ARGS))
  # Ingest reads the key again when it executes; it is never passed on from here.
  pseudonyms.ingest_key(data.manifest, announce=False)
  return dict(model=model, runtime=runtime, data=data)


def _run_and_report(pipeline_root: str, **kwargs) -> dict:
  """Run the local pipeline, print its outcome and return it (``run_report.report``)."""
  from pipeline import artifacts, local_runner, run_report  # pylint: disable=g-import-not-at-top
  metadata_path = local_runner.run(pipeline_root, **kwargs)
  print()
  return run_report.report(artifacts.sqlite_config(metadata_path))


def _run(args) -> int:
  try:
    kwargs = _pipeline_options(args)
    kwargs.update(gates=options.Gates.from_args(args),
                  serving=options.ServingOptions.from_args(args))
  except ValueError as e:  # ManifestError too
    print(f'error: {e}', file=sys.stderr)
    return 2
  try:
    outcome = _run_and_report(args.pipeline_root, stop_after=args.stop_after, **kwargs)
  except splits.SplitError as e:  # a cohort that cannot be evaluated: no traceback
    print(f'error: {e}', file=sys.stderr)
    return 2
  if args.summary_json:
    with open(args.summary_json, 'w') as f:
      json.dump(outcome, f, indent=2)
  return 0


def _report(args) -> int:
  """Where the newest evidence report of a pipeline root is, and its headline."""
  from components.evidence_report import headline  # pylint: disable=g-import-not-at-top
  from pipeline import artifacts  # pylint: disable=g-import-not-at-top
  metadata_path = configs.local_metadata_path(os.path.abspath(args.pipeline_root))
  found = None
  if os.path.exists(metadata_path):
    found = artifacts.newest_artifact(artifacts.sqlite_config(metadata_path),
                                      headline.REPORT_TYPE)
  if found is None:
    print(f'error: no evidence report in {args.pipeline_root} (none is made until a run '
          'gets through the Evaluator: palsy-tfx run without --stop-after, or with '
          '--stop-after evaluate)', file=sys.stderr)
    return 1
  print(os.path.join(found.uri, headline.REPORT_FILE))
  print(headline.format_headline(headline.read_headline(found.uri)))
  return 0


def _leakage(args) -> int:
  """Train the same preset on the same data twice, split by frame and by subject, and
  print the two evaluations side by side (``pipeline.leakage``)."""
  try:
    kwargs = _pipeline_options(args)
  except ValueError as e:  # ManifestError too
    print(f'error: {e}', file=sys.stderr)
    return 2
  from pipeline import leakage  # pylint: disable=g-import-not-at-top
  output = os.path.abspath(args.output)
  roots, outcomes = {}, {}
  for split_by in ('frame', 'subject'):
    key = f'{split_by}_split'
    roots[key] = os.path.join(output, key)
    print(f'\n=== split by {split_by}: {roots[key]} ===', flush=True)
    try:
      # Evaluated, never pushed: a frame split's model must not be served.
      outcomes[key] = _run_and_report(
          roots[key], stop_after='evaluate', gates=leakage.NO_GATES,
          **dict(kwargs, data=dataclasses.replace(kwargs['data'], split_by=split_by)))
    except splits.SplitError as e:
      print(f'error: {e}', file=sys.stderr)
      return 2
  comparison = leakage.compare(outcomes)
  paths = leakage.write(comparison, roots, os.path.join(output, 'leakage.json'),
                        os.path.join(output, 'leakage.png'))
  print(f'\nLeakage: the {args.model} preset (seed {args.seed}) trained and evaluated twice '
        f'on {args.manifest}, split by frame and by subject (quality gates off, nothing '
        'pushed)', flush=True)
  print(leakage.format_table(comparison))
  print(f'  written: {", ".join(paths)}', flush=True)
  return 0


class _UsageError(ValueError):
  """A predict invocation that cannot work as given; exit code 2, like argparse's."""


def _crop_record(args):
  """How the model's training faces were cropped: from the SavedModel itself, or with
  a server (which cannot be asked) from ``--model-info``."""
  from preprocessing import crop_settings  # pylint: disable=g-import-not-at-top
  if args.model and args.model_info:
    raise _UsageError('--model-info is for --rest and --grpc: a SavedModel carries its own '
                      f'{crop_settings.MODEL_INFO_FILE}')
  if not args.model and not args.model_info:
    raise _UsageError(f'{"--rest" if args.rest else "--grpc"} needs --model-info: the crop '
                      'settings cannot be read from the server; give the pushed model '
                      f'version directory or its {crop_settings.MODEL_INFO_FILE}')
  try:
    return crop_settings.from_model(args.model or args.model_info)
  except crop_settings.ModelInfoError as e:
    raise _UsageError(str(e)) from e


def _grader(args):
  """The ``pipeline.graders.Grader`` that the model flag names. The TF Serving clients
  live in ``pipeline.serving_clients``, imported only when asked for."""
  if args.model:
    if args.version is not None or args.label is not None:
      raise _UsageError('--version and --label pick a version on a TF Serving server (--rest, '
                        '--grpc); --model is one version already')
    from pipeline import graders  # pylint: disable=g-import-not-at-top
    try:
      return graders.SavedModelGrader(args.model, explain=bool(args.explain))
    except (OSError, ValueError) as e:  # not a SavedModel, or one without the signatures
      raise _UsageError(f'cannot load the SavedModel {args.model}: {e}') from e
  from pipeline import serving_clients  # pylint: disable=g-import-not-at-top
  kind, where = ((serving_clients.RestGrader, args.rest) if args.rest else
                 (serving_clients.GrpcGrader, args.grpc))
  return kind(where, model_name=args.model_name, version=args.version, label=args.label)


def _write_strips(grader, results, out_dir: str) -> None:
  """A Grad-CAM strip per graded input (``pipeline.explain``), named on stderr; a strip
  that fails is reported there too and the others are still drawn."""
  from pipeline import explain  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  for result, path in zip(results, explain.strip_paths([r.path for r in results], out_dir)):
    if result.error is not None:
      continue
    try:
      explain.explain_prediction(grader, result, path)
    except Exception as e:  # pylint: disable=broad-except
      print(f'[explain] {result.path}: NOT EXPLAINED: {type(e).__name__}: {e}',
            file=sys.stderr, flush=True)
      continue
    print(f'[explain] {result.path}: {path}', file=sys.stderr, flush=True)


def _predict(args) -> int:
  """Grade each input; exit 1 only when none could be graded."""
  from pipeline import predict, predict_output  # pylint: disable=g-import-not-at-top
  try:
    record = _crop_record(args)
    grader = _grader(args)
  except _UsageError as e:
    print(f'palsy-tfx predict: error: {e}', file=sys.stderr)
    return 2
  print(predict_output.sampling_line(len(args.paths), record, args.source), file=sys.stderr,
        flush=True)
  results = predict.predict_files(args.paths, grader, record, args.source,
                                  predict_output.Progress(len(args.paths)),
                                  keep_crops=bool(args.explain))
  print(predict_output.format_table(results), flush=True)
  if args.output_json:
    predict_output.write_json(results, args.output_json)
  if args.frames_csv:
    predict_output.write_frames_csv(results, args.frames_csv)
  if args.explain:
    _write_strips(grader, results, args.explain)
  return 0 if any(r.error is None for r in results) else 1


def _add_verbose(parser: argparse.ArgumentParser, default) -> None:
  parser.add_argument('--verbose', action='store_true', default=default,
                      help='show the warnings and INFO logs of TensorFlow, Beam, TFX and '
                           'the other libraries (default: errors only)')


def _add_pipeline_args(parser: argparse.ArgumentParser):
  """The data, model and runtime options of ``run`` and ``leakage``
  (``pipeline.options``); returns the three argument groups, for more."""
  groups = [parser.add_argument_group(name) for name in ('data', 'model', 'runtime')]
  options.DataOptions.add_args(groups[0])
  options.ModelOptions.add_args(groups[1])
  options.RuntimeOptions.add_args(groups[2])
  return groups


def _add_predict_parser(sub) -> None:
  predict = sub.add_parser(
      'predict', help='grade new patients: videos and stills in, a House-Brackmann grade '
                      'per file out, cropped as the model\'s training data was')
  _add_verbose(predict, default=argparse.SUPPRESS)
  predict.add_argument('paths', nargs='+', metavar='PATH', help='videos and stills to grade')
  model = predict.add_argument_group('model')
  where = model.add_mutually_exclusive_group(required=True)
  where.add_argument('--model', metavar='SAVEDMODEL_DIR',
                     help='a pushed model version directory, loaded in this process')
  where.add_argument('--rest', metavar='URL', help='TF Serving REST endpoint')
  where.add_argument('--grpc', metavar='HOST:PORT', help='TF Serving gRPC endpoint')
  model.add_argument('--model-info', metavar='PATH',
                     help='with --rest/--grpc: the pushed model version directory, or its '
                          'assets.extra/palsy_model.json (how to crop the faces)')
  model.add_argument('--model-name', default=options.DEFAULT_MODEL_NAME,
                     help='the model name on the TF Serving server (default '
                          f'{options.DEFAULT_MODEL_NAME})')
  # Without either, TF Serving answers with its highest loaded version: the canary, while
  # one is on trial.
  pick = model.add_mutually_exclusive_group()
  pick.add_argument('--version', type=int, metavar='N',
                    help='with --rest/--grpc: the model version to ask (default: the '
                         "server's highest loaded version, a canary included)")
  pick.add_argument('--label', metavar='LABEL',
                    help='with --rest/--grpc: the version label to ask (models.config: '
                         'stable, canary)')
  data = predict.add_argument_group('data')
  data.add_argument('--source', type=str.lower,
                    help="the inputs' source as in the manifest (yfp, meei, ...): picks the "
                         "video sampling rate the model was trained with (default: the "
                         "model's default rate)")
  output = predict.add_argument_group('output')
  output.add_argument('--output-json', metavar='OUT.json',
                      help='write the results: one object per input (README)')
  output.add_argument('--frames-csv', metavar='OUT.csv',
                      help='write one row per sampled frame: box, probabilities, grade')
  output.add_argument('--explain', metavar='DIR',
                      help='write a Grad-CAM strip per graded input to DIR/<file stem>.png '
                           "(the model's serving_explain signature, by the same route)")
  predict.set_defaults(func=_predict)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='palsy-tfx', description='Grade facial paralysis from patient videos with TFX.')
  _add_verbose(parser, default=False)
  sub = parser.add_subparsers(dest='command', required=True)

  sample = sub.add_parser('sample-data', help='write the built-in demo dataset (not clinical)')
  # Also after the subcommand; SUPPRESS keeps a subcommand from resetting a flag given
  # before it.
  _add_verbose(sample, default=argparse.SUPPRESS)
  sample.add_argument('--output', required=True)
  sample.add_argument('--subjects-per-grade', type=int,
                      default=configs.DEFAULT_SUBJECTS_PER_GRADE,
                      help='8 gives six test subjects, one per grade')
  sample.add_argument('--seconds', type=float, default=3.0)
  sample.set_defaults(func=_sample_data)

  run = sub.add_parser('run', help='run the pipeline locally (LocalDagRunner, SQLite MLMD)')
  _add_verbose(run, default=argparse.SUPPRESS)
  data, model, runtime = _add_pipeline_args(run)
  data.add_argument('--pipeline-root', required=True)
  data.add_argument('--stop-after', choices=['ingest', 'validate', 'evaluate', 'push'],
                    default='push',
                    help='run only the first stages (default: the whole pipeline)')
  options.ServingOptions.add_args(model)
  options.Gates.add_args(run)
  runtime.add_argument('--summary-json', help='also write the outcome as JSON here')
  run.set_defaults(func=_run)

  leak = sub.add_parser(
      'leakage', help='train the same model twice, split by frame (leaky, as the paper) and '
                      'by subject, and compare the scores')
  _add_verbose(leak, default=argparse.SUPPRESS)
  _add_pipeline_args(leak)[0].add_argument(
      '--output', required=True,
      help='folder for both runs (frame_split/, subject_split/), leakage.json and leakage.png')
  leak.set_defaults(func=_leakage)

  _add_predict_parser(sub)
  kubeflow_cli.add_parser(sub, lambda p: _add_verbose(p, default=argparse.SUPPRESS))

  report = sub.add_parser('report', help="where the last run's evidence report is, with its "
                                         'headline numbers')
  _add_verbose(report, default=argparse.SUPPRESS)
  report.add_argument('--pipeline-root', required=True)
  report.set_defaults(func=_report)
  return parser


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  if args.verbose:
    logs.set_verbose(True)
  logs.configure_libraries()
  return args.func(args)


if __name__ == '__main__':
  sys.exit(main())
