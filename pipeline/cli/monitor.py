"""``palsy-tfx monitor``: compare the graded inputs with the training data, and say whether
they drifted (``pipeline.monitor``). Parse, compare, print; exit 1 on drift, 0 without, 2
on bad input."""
import argparse
from typing import Callable

from pipeline.cli import errors

DRIFT = 1


def _monitor(args) -> int:
  from pipeline.monitor import monitor  # pylint: disable=g-import-not-at-top  (TFDV loads here)
  try:
    outcome = monitor.run(args.baseline, args.graded, args.drift_config, args.output)
  except (ValueError, OSError) as e:  # the config's, the graded files', the baseline's
    return errors.report(e, 'palsy-tfx monitor: error')
  print('\n'.join(outcome.lines))
  print(f'wrote {outcome.page} and {outcome.result}', flush=True)
  return DRIFT if outcome.comparison.drifted else 0


def add_parser(sub, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
  """``palsy-tfx monitor``; ``add_common`` adds the flags every subcommand takes."""
  monitor = sub.add_parser(
      'monitor', help='compare what the graded inputs looked like with the training data '
                      '(TFDV drift comparators); exit 1 on drift')
  add_common(monitor)
  monitor.add_argument('--baseline', required=True, metavar='PIPELINE_ROOT',
                       help="a local pipeline root (its newest StatisticsGen artifact's train "
                            'split), a StatisticsGen artifact folder, or an earlier grading')
  monitor.add_argument('--graded', required=True, metavar='OUTPUT',
                       help="predict's --output-json, an archive grading's JSON lines, or a "
                            'folder of them')
  monitor.add_argument('--drift-config', metavar='FILE',
                       help='the descriptors to watch and their thresholds, in TFDV Schema '
                            'text format (default: pipeline/monitor/drift_config.pbtxt)')
  monitor.add_argument('--output', metavar='DIR',
                       help='where to write drift.html and drift.json (default: monitor/ '
                            'beside the graded files)')
  monitor.set_defaults(func=_monitor)
