"""How the command line reports a failure it knows: one line on stderr and exit code 2,
the traceback only with ``--verbose``.

Known failures are those of the input and the options, found before any work starts
(a manifest, a key, a weights file, a model): ``ValueError`` and its kin (ManifestError,
PseudonymKeyError, WeightsMismatch, ModelInfoError) and ``WeightsNotFound``; and, during a
run, the stops a stage makes on purpose: ``SplitError`` and ``RunStopped`` (anomalies, no
face at all, a required GPU that is absent). Anything else is a bug and keeps its traceback.
"""
import sys
import traceback

from components.video_ingest.splits import SplitError
from preprocessing import logs
from preprocessing.face_models import WeightsNotFound
from preprocessing.stops import RunStopped

KNOWN = (ValueError, WeightsNotFound)
STOPS = (SplitError, RunStopped)
USAGE = 2  # as argparse's own


def report(error: BaseException, prefix: str = 'error') -> int:
  """Print ``prefix: error`` (after its traceback, with ``--verbose``); return 2."""
  if logs.verbose():
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
  print(f'{prefix}: {error}', file=sys.stderr, flush=True)
  return USAGE
