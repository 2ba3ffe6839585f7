"""``palsy-tfx kubeflow compile`` and ``palsy-tfx kubeflow submit``.

Both take every pipeline option of a local run (``pipeline.options``) and the
deployment's own (root, images, Trainer resources). Only light modules are imported
here; TFX and kfp load when a subcommand runs.
"""
import argparse
import sys
from typing import Callable

from pipeline import configs, options
from pipeline.cli import errors


def _add_compile_args(parser: argparse.ArgumentParser) -> None:
  data, model, runtime, kubeflow = (parser.add_argument_group(name) for name in (
      'data', 'model', 'runtime', 'kubeflow deployment'))
  options.DataOptions.add_args(data)
  options.ModelOptions.add_args(model)
  options.ServingOptions.add_args(model, serving_dir_required=True)
  options.Gates.add_args(parser)
  options.RuntimeOptions.add_args(runtime)
  options.KubeflowOptions.add_args(kubeflow)


def options_from_args(args: argparse.Namespace) -> dict:
  """The options of a compile, as ``kubeflow_runner.compile_package`` takes them."""
  return dict(
      data=options.DataOptions.from_args(args), model=options.ModelOptions.from_args(args),
      gates=options.Gates.from_args(args), serving=options.ServingOptions.from_args(args),
      runtime=options.RuntimeOptions.from_args(args),
      deployment=options.KubeflowOptions.from_args(args))


def _compile_package(args) -> str:
  """Compile from the command line's options and return the package's path."""
  kwargs = options_from_args(args)  # checked before TFX loads
  from pipeline.runners import kubeflow as kubeflow_runner  # pylint: disable=g-import-not-at-top
  return kubeflow_runner.compile_package(**kwargs)


def _compile(args) -> int:
  try:
    path = _compile_package(args)
  except errors.KNOWN as e:  # ManifestError too
    return errors.report(e)
  print(path)
  return 0


def _submit(args) -> int:
  given = [flag for dest, flag in args.compile_required if getattr(args, dest) is not None]
  if args.package and given:
    print(f'error: --package is a compiled pipeline; {", ".join(given)} would not change '
          'it (submit either --package, or the compile options)', file=sys.stderr)
    return 2
  package = args.package
  if not package:
    missing = [flag for dest, flag in args.compile_required if getattr(args, dest) is None]
    if missing:
      print(f'error: submit needs --package PATH, or the compile options; missing '
            f'{", ".join(missing)}', file=sys.stderr)
      return 2
    try:
      package = _compile_package(args)
    except errors.KNOWN as e:
      return errors.report(e)
    print(f'compiled {package}', flush=True)
  from pipeline.runners import kubeflow_submit  # pylint: disable=g-import-not-at-top
  try:
    run = kubeflow_submit.submit(package, args.host, args.experiment, args.run_name)
  except kubeflow_submit.SubmitError as e:
    errors.report(e)
    return 1  # the package was fine; the server refused or was not there
  print(f'started run {run.run_id} ({run.display_name}) in experiment {args.experiment}')
  return 0


def add_parser(sub, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
  """Declare ``kubeflow compile`` and ``kubeflow submit`` on the top-level subparsers;
  ``add_common`` declares the options every subcommand takes (``--verbose``)."""
  kubeflow = sub.add_parser('kubeflow', help='compile the pipeline for Kubeflow Pipelines, '
                                             'or submit a run of it')
  add_common(kubeflow)
  commands = kubeflow.add_subparsers(dest='kubeflow_command', required=True)

  compile_ = commands.add_parser(
      'compile', help='write the Kubeflow Pipelines V2 package (YAML), with every option '
                      'of a local run')
  add_common(compile_)
  _add_compile_args(compile_)
  compile_.set_defaults(func=_compile)

  submit = commands.add_parser(
      'submit', help='upload a package (or compile one) and start a run on a Kubeflow '
                     'Pipelines server')
  add_common(submit)
  where = submit.add_argument_group('server')
  where.add_argument('--host', required=True,
                     help='the KFP API endpoint, e.g. http://localhost:8080 after '
                          'kubectl port-forward svc/ml-pipeline-ui')
  where.add_argument('--experiment', default=configs.PIPELINE_NAME,
                     help='experiment to run in, made if absent (default %(default)s)')
  where.add_argument('--run-name', help='(default: palsy-tfx-<UTC time>)')
  where.add_argument('--package', help='a package from kubeflow compile (default: compile '
                                       'one from the options below)')
  _add_compile_args(submit)
  # The compile options are needed only without --package: _submit checks them.
  required = [action for action in submit._actions  # pylint: disable=protected-access
              if action.required and action.dest != 'host']
  for action in required:
    action.required = False
  submit.set_defaults(func=_submit, compile_required=[
      (action.dest, action.option_strings[0]) for action in required])
