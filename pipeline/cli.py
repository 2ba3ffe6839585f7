"""The ``palsy-tfx`` command line."""
import argparse
import json
import sys

from components.video_ingest import splits
from components.video_ingest.manifest import ManifestError


def _sample_data(args) -> int:
  from pipeline.sample_data import write_sample_data  # pylint: disable=g-import-not-at-top
  counts = write_sample_data(args.output, per_grade=args.subjects_per_grade,
                             seconds=args.seconds)
  print(f'wrote {counts["rows"]} media files for {counts["subjects"]} synthetic subjects '
        f'to {args.output}/manifest.csv (demo data, NOT clinical data)')
  return 0


def _run(args) -> int:
  from components.video_ingest.manifest import fingerprint  # pylint: disable=g-import-not-at-top
  try:
    input_fingerprint = fingerprint(args.manifest)  # fails fast on a bad manifest
  except ManifestError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  from pipeline import local_runner, run_report  # pylint: disable=g-import-not-at-top
  kwargs = dict(
      input_fingerprint=input_fingerprint,
      source_fps=json.loads(args.source_fps) if args.source_fps else None,
      split_ratios=args.split_ratios, salt=args.salt,
      ingest_image_size=args.ingest_image_size, enable_cache=not args.no_cache)
  beam_args = args.beam_arg or None
  metadata_path = local_runner.run(args.manifest, args.pipeline_root,
                                   stop_after=args.stop_after,
                                   beam_pipeline_args=beam_args, **kwargs)
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  print('\n' + run_report.report(config))
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='palsy-tfx', description='Grade facial paralysis from patient videos with TFX.')
  sub = parser.add_subparsers(dest='command', required=True)

  sample = sub.add_parser('sample-data', help='write the built-in demo dataset')
  sample.add_argument('--output', required=True)
  sample.add_argument('--subjects-per-grade', type=int, default=4)
  sample.add_argument('--seconds', type=float, default=3.0)
  sample.set_defaults(func=_sample_data)

  run = sub.add_parser('run', help='run the pipeline locally (LocalDagRunner, SQLite MLMD)')
  run.add_argument('--manifest', required=True, help='CSV: path,subject_id,label,source[,side]')
  run.add_argument('--pipeline-root', required=True)
  run.add_argument('--stop-after', choices=['ingest', 'validate'], default='validate')
  run.add_argument('--source-fps', help='JSON {source: fps}; default {"meei": 3, "yfp": 6}')
  run.add_argument('--split-ratios', type=float, nargs=3, default=list(splits.DEFAULT_RATIOS),
                   metavar=('TRAIN', 'EVAL', 'TEST'))
  run.add_argument('--salt', default=splits.DEFAULT_SALT, help='salt for subject pseudonyms')
  run.add_argument('--ingest-image-size', type=int, default=224, help='crop size in pixels')
  run.add_argument('--beam-arg', action='append',
                   help='a Beam pipeline option, repeatable (default: local multi-processing)')
  run.add_argument('--no-cache', action='store_true', help='recompute every component')
  run.set_defaults(func=_run)
  return parser


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  return args.func(args)


if __name__ == '__main__':
  sys.exit(main())
