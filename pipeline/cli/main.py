"""The ``palsy-tfx`` command line: each handler parses, calls one function and prints.

Only light modules are imported here: ``--help`` and a mistyped option answer at once,
and TensorFlow loads (inside the subcommands) after the log levels are set.
"""
import argparse
import json
import os
import sys

from pipeline import configs, options
from pipeline.cli import archive as archive_cli
from pipeline.cli import errors
from pipeline.cli import kubeflow as kubeflow_cli
from pipeline.cli import monitor as monitor_cli
from pipeline.cli import predict as predict_cli
from pipeline.cli import serving as serving_cli
from preprocessing import logs


def _sample_data(args) -> int:
  if args.subjects_per_grade < 1 or args.seconds <= 0:
    return errors.report(ValueError(
        f'--subjects-per-grade must be at least 1 and --seconds above 0; got '
        f'{args.subjects_per_grade} and {args.seconds:g}'))
  from pipeline.demo.sample_data import write_sample_data  # pylint: disable=g-import-not-at-top
  try:
    counts = write_sample_data(args.output, per_grade=args.subjects_per_grade,
                               seconds=args.seconds)
  except OSError as e:  # a file where the folder should be, no permission, a full disk
    return errors.report(e)
  print(f'wrote {counts["rows"]} media files for {counts["subjects"]} synthetic subjects '
        f'to {args.output}/manifest.csv (demo data, NOT clinical data)')
  return 0


def _pipeline_options(args, trains: bool) -> dict:
  """The options ``run`` and ``leakage`` share, read and checked now, so that a bad
  preset, manifest, option, pseudonym key or (for a run that ``trains``) a missing
  weights file fails before any work starts (``errors.KNOWN``). The manifest's
  fingerprint and grades are read here too."""
  from components.video_ingest import pseudonyms  # pylint: disable=g-import-not-at-top
  from pipeline.runners import preflight  # pylint: disable=g-import-not-at-top
  model = options.ModelOptions.from_args(args)  # before the manifest is read
  runtime = options.RuntimeOptions.from_args(args)
  data = preflight.local_data(options.DataOptions.from_args(args),
                          runtime.beam_pipeline_args(configs.LOCAL_BEAM_ARGS))
  # Ingest reads the key again when it executes; it is never passed on from here.
  pseudonyms.ingest_key(data.manifest, announce=False)
  if trains:
    model.check_weights()
  return dict(model=model, runtime=runtime, data=data)


def _run(args) -> int:
  from pipeline.runners import preflight  # pylint: disable=g-import-not-at-top
  try:
    # The gates first: a mistyped flag is named before any file is looked for.
    kwargs = dict(gates=options.Gates.from_args(args),
                  serving=options.ServingOptions.from_args(args))
    kwargs.update(_pipeline_options(args, trains=args.stop_after in ('evaluate', 'push')))
    preflight.check_folders(args.pipeline_root, kwargs['serving'], args.stop_after)
  except errors.KNOWN as e:
    return errors.report(e)
  from pipeline.runners import local  # pylint: disable=g-import-not-at-top  (TFX loads here)
  try:
    outcome = local.run_and_summarize(args.pipeline_root, stop_after=args.stop_after, **kwargs)
  except errors.STOPS as e:  # a cohort that cannot be evaluated, anomalies: no traceback
    return errors.report(e)
  if args.summary_json:
    with open(args.summary_json, 'w') as f:
      json.dump(outcome, f, indent=2)
  return 0


def _headline(args) -> int:
  """Where the newest evidence report of a pipeline root is, and its headline."""
  from components.evidence_report import headline  # pylint: disable=g-import-not-at-top
  from pipeline.runners import artifacts  # pylint: disable=g-import-not-at-top
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
  print the two evaluations side by side (``pipeline.demo.leakage``)."""
  try:
    kwargs = _pipeline_options(args, trains=True)
  except errors.KNOWN as e:
    return errors.report(e)
  from pipeline.demo import leakage  # pylint: disable=g-import-not-at-top
  try:
    comparison, paths = leakage.run_leakage(args.output, **kwargs)
  except errors.STOPS as e:
    return errors.report(e)
  print(f'\nLeakage: the {args.model} preset (seed {args.seed}) trained and evaluated twice '
        f'on {args.manifest}, split by frame and by subject (quality gates off, nothing '
        'pushed)', flush=True)
  print(leakage.format_table(comparison))
  print(f'  written: {", ".join(paths)}', flush=True)
  return 0


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

  add_common = lambda p: _add_verbose(p, default=argparse.SUPPRESS)
  predict_cli.add_parser(sub, add_common)
  kubeflow_cli.add_parser(sub, add_common)
  serving_cli.add_parser(sub, add_common)
  archive_cli.add_parser(sub, add_common)
  monitor_cli.add_parser(sub, add_common)

  # 'report' was its name before the HTML evidence report and the run summary took that
  # word; it stays as an alias so that scripts keep working.
  headline = sub.add_parser('headline', aliases=['report'],
                            help="where the last run's evidence report is, with its "
                                 'headline numbers')
  _add_verbose(headline, default=argparse.SUPPRESS)
  headline.add_argument('--pipeline-root', required=True)
  headline.set_defaults(func=_headline)
  return parser


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  if args.verbose:
    logs.set_verbose(True)
  logs.configure_libraries()
  return args.func(args)


if __name__ == '__main__':
  sys.exit(main())
