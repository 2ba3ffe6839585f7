"""``palsy-tfx grade-archive``: grade every recording of a manifest on Beam with a pushed
model (``pipeline.predict.archive``). Parse, check, grade, print the summary."""
import argparse
from typing import Callable

from pipeline import configs, options
from pipeline.cli import errors


def _grade_archive(args) -> int:
  """Exit 0 when any input was graded, 1 when none was, 2 when the grading cannot start."""
  from components.video_ingest import workers  # pylint: disable=g-import-not-at-top
  from pipeline.predict import archive, archive_summary  # pylint: disable=g-import-not-at-top
  try:
    runtime = options.RuntimeOptions(beam_args=tuple(args.beam_arg or ()),
                                     beam_workers=args.beam_workers)
    beam_args = runtime.beam_pipeline_args(configs.LOCAL_BEAM_ARGS)
    workers.check_workers(beam_args)
    summary = archive.grade_archive(args.manifest, args.model, args.output, beam_args,
                                    args.numeric_labels)
  except (errors.KNOWN + (RuntimeError,)) as e:  # the manifest's, the model's, the workers'
    return errors.report(e, 'palsy-tfx grade-archive: error')
  print('\n'.join(archive_summary.format_lines(summary)), flush=True)
  print(f'wrote {args.output}/{archive.GRADED}-*{archive.GRADED_SUFFIX} (one line per graded '
        f'or failed input) and {args.output}/{archive.SUMMARY_FILE}', flush=True)
  return 0 if summary['graded'] else 1


def add_parser(sub, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
  """``palsy-tfx grade-archive``; ``add_common`` adds the flags every subcommand takes."""
  parser = sub.add_parser(
      'grade-archive', help="grade a manifest's recordings on Beam with a pushed model: one "
                            'JSON line per input, and a summary with the subject-level '
                            'metrics where the manifest has labels')
  add_common(parser)
  parser.add_argument('--manifest', required=True,
                      help='CSV with a path column (relative to it); subject_id, label, '
                           'source and side are optional, as in ingest\'s manifest')
  parser.add_argument('--model', required=True, metavar='SAVEDMODEL_DIR',
                      help='a pushed model version directory, readable by the workers')
  parser.add_argument('--output', required=True, metavar='DIR',
                      help='a new folder, readable and writable by the workers: '
                           'graded-*.jsonl and summary.json')
  options.add_numeric_labels(parser)
  options.RuntimeOptions.add_beam_args(parser)
  parser.set_defaults(func=_grade_archive)
