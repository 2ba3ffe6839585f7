"""``palsy-tfx serving config``: write TF Serving's ``models.config`` for the kit
(``kubeflow/serving/``) from the versions that were pushed (``pipeline.serving_config``)."""
import argparse
import os
from typing import Callable

from pipeline import serving_config
from pipeline.cli import errors

# The kit's file, from the repository root, where the kit's commands run
# (kubectl apply -k kubeflow/serving).
DEFAULT_OUTPUT = os.path.join('kubeflow', 'serving', serving_config.FILE_NAME)


def _config(args) -> int:
  folder = os.path.dirname(args.output) or '.'
  try:
    # The versions first: with nothing pushed, where the file would go does not matter yet.
    text = serving_config.config_text(args.serving_dir, args.stable, args.canary)
    if not os.path.isdir(folder):
      raise ValueError(f'--output {args.output}: no folder {folder} (run from the '
                       'repository root, or give --output)')
    with open(args.output, 'w') as f:
      f.write(text)
  except (ValueError, OSError) as e:  # OSError: no permission, a folder named --output
    return errors.report(e)
  canary = args.stable if args.canary is None else args.canary
  deploy = (f'; deploy it with kubectl apply -k {folder}' if args.output == DEFAULT_OUTPUT
            else '')
  print(f'wrote {args.output}: stable {args.stable}, canary {canary}{deploy}')
  return 0


def add_parser(sub, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
  """``palsy-tfx serving config``; ``add_common`` adds the flags every subcommand takes."""
  serving = sub.add_parser('serving', help='the TF Serving kit (kubeflow/serving/)')
  add_common(serving)
  commands = serving.add_subparsers(dest='serving_command', required=True)
  config = commands.add_parser(
      'config', help="write models.config: the versions to load and their labels, each "
                     "checked to be in SERVING_DIR/palsy/")
  add_common(config)
  config.add_argument('--serving-dir', required=True,
                      help="the Pusher's destination (run's --serving-dir): its palsy/ "
                           'folder holds one folder per pushed version')
  config.add_argument('--stable', type=int, required=True, metavar='VERSION',
                      help='the version that clients asking for the label stable get')
  config.add_argument('--canary', type=int, metavar='VERSION',
                      help='a newer version under trial, loaded beside the stable one; '
                           'requests that name no version or label get it (default: the '
                           'stable version carries the label canary too)')
  config.add_argument('--output', default=DEFAULT_OUTPUT, metavar='FILE',
                      help='(default %(default)s, the file the kustomization reads)')
  config.set_defaults(func=_config)
