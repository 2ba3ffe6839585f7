"""``palsy-tfx predict``: grade new videos and stills with a pushed model, in this process
or through TF Serving (``pipeline.predict``). Parse, pick the grader, grade, print."""
import argparse
import sys
from typing import Callable

from pipeline import options
from pipeline.cli import errors


class _UsageError(ValueError):
  """A predict invocation that cannot work as given; exit code 2, like argparse's."""


def _model_info(args):
  """How the model's training faces were cropped, and its referral thresholds: from the
  SavedModel itself, or with a server (which cannot be asked) from ``--model-info``."""
  from preprocessing import crop_settings, referral  # pylint: disable=g-import-not-at-top
  if args.model and args.model_info:
    raise _UsageError('--model-info is for --rest and --grpc: a SavedModel carries its own '
                      f'{crop_settings.MODEL_INFO_FILE}')
  if not args.model and not args.model_info:
    raise _UsageError(f'{"--rest" if args.rest else "--grpc"} needs --model-info: the crop '
                      'settings cannot be read from the server; give the pushed model '
                      f'version directory or its {crop_settings.MODEL_INFO_FILE}')
  path = args.model or args.model_info
  try:
    info = crop_settings.read_model_info(path)
    return (crop_settings.from_info(info, crop_settings.model_info_path(path)),
            referral.Rules.from_model(info))
  except crop_settings.ModelInfoError as e:
    raise _UsageError(str(e)) from e
  except (TypeError, ValueError) as e:  # a referral record that is not the rule's
    raise _UsageError(f'{crop_settings.model_info_path(path)}: unreadable referral: {e}') from e


def _grader(args):
  """The ``pipeline.predict.base.Grader`` that the model flag names. The TF Serving
  clients live in ``pipeline.predict.tf_serving``, imported only when asked for."""
  if args.model:
    if args.version is not None or args.label is not None:
      raise _UsageError('--version and --label pick a version on a TF Serving server (--rest, '
                        '--grpc); --model is one version already')
    from pipeline.predict import saved_model  # pylint: disable=g-import-not-at-top
    try:
      return saved_model.SavedModelGrader(args.model, explain=bool(args.explain))
    except (OSError, ValueError) as e:  # not a SavedModel, or one without the signatures
      raise _UsageError(f'cannot load the SavedModel {args.model}: {e}') from e
  from pipeline.predict import tf_serving  # pylint: disable=g-import-not-at-top
  kind, where = ((tf_serving.RestGrader, args.rest) if args.rest else
                 (tf_serving.GrpcGrader, args.grpc))
  return kind(where, model_name=args.model_name, version=args.version, label=args.label)


def _check_inputs(paths) -> None:
  """Before TensorFlow and the model load: when not one input could be graded (each
  missing, empty or of another extension), a usage error that names each and why. When
  some can, the others are reported beside their grades, as ever."""
  from preprocessing import frames  # pylint: disable=g-import-not-at-top
  problems = []
  for path in paths:
    try:
      frames.local_media_kind(path)
    except frames.MediaError as e:
      problems.append(f'{path}: {e}')
  if len(problems) == len(paths):
    raise _UsageError(f'no input can be graded: {"; ".join(problems)}')


def _predict(args) -> int:
  """Grade each input; exit 1 only when none could be graded, 2 when none could even be
  read or the model flags cannot work."""
  try:
    record, rules = _model_info(args)
    _check_inputs(args.paths)
    grader = _grader(args)
  except _UsageError as e:
    return errors.report(e, 'palsy-tfx predict: error')
  from pipeline.predict import grade  # pylint: disable=g-import-not-at-top
  from pipeline.predict import output  # pylint: disable=g-import-not-at-top
  print(output.sampling_line(len(args.paths), record, args.source), file=sys.stderr,
        flush=True)
  results = grade.predict_files(args.paths, grader, record, args.source,
                                output.Progress(len(args.paths)),
                                keep_crops=bool(args.explain), rules=rules)
  print(output.format_table(results), flush=True)
  if args.output_json:
    output.write_json(results, args.output_json)
  if args.frames_csv:
    output.write_frames_csv(results, args.frames_csv)
  if args.explain:
    from pipeline.predict import explain  # pylint: disable=g-import-not-at-top
    explain.write_strips(grader, results, args.explain)
  return 0 if any(r.error is None for r in results) else 1


def add_parser(sub, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
  """``palsy-tfx predict``; ``add_common`` adds the flags every subcommand takes."""
  predict = sub.add_parser(
      'predict', help='grade new patients: videos and stills in, a House-Brackmann grade '
                      'per file out, cropped as the model\'s training data was')
  add_common(predict)
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
                      help='write the results: one object per input '
                           '(docs/predict-and-serve.md)')
  output.add_argument('--frames-csv', metavar='OUT.csv',
                      help='write one row per sampled frame: box, probabilities, grade')
  output.add_argument('--explain', metavar='DIR',
                      help='write a Grad-CAM strip per graded input to DIR/<file stem>.png '
                           "(the model's serving_explain signature, by the same route)")
  predict.set_defaults(func=_predict)
