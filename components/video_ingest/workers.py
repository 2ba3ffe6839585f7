"""Where Beam runs our Python code, and a check that the workers there can run it.

Flink, Spark and Dataflow Runner v2 run Python through the portability framework: a
job service takes the pipeline, and SDK worker processes run the DoFns. With
``--environment_type=EXTERNAL`` those workers come from a worker pool
(``apache_beam.runners.worker.worker_pool_main``) that starts each one with the first
``python`` on its own ``PATH``. When that python lacks Beam or this package, the worker
dies at once, its import error goes only to the pool's stderr, and the job waits until
a gRPC deadline that explains nothing. ``check_workers`` turns that into an error that
names the cause, within the probe's time limit, before the real ingest starts.
"""
import logging
import re
import sys
import time
from typing import Dict, List, Optional, Sequence

# Beam and gRPC are imported where the check runs: the command line reads FLAG and
# expand() here, and answers --help without loading Beam.

FLAG = '--beam-workers'
SPEC_HELP = ('external:job=HOST:PORT,pool=HOST:PORT[,parallelism=N]: submit to the Beam '
             'job service at job=, run Python on the worker pool at pool=')
# A probe that has not finished in this time has workers that never started.
PROBE_TIMEOUT_S = 120
# Beam's --job_server_timeout (60 s by default) is also the deadline of the stream the
# client watches the job on: a portable job longer than that fails on the client with
# DEADLINE_EXCEEDED while it runs on (measured with Beam 2.59's local job service). A
# week covers any ingest; an unreachable job service is caught by check_workers first.
JOB_WAIT_S = 7 * 24 * 3600

_ENDPOINT = re.compile(r'^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$')
_KEYS = ('job', 'pool', 'parallelism')


def expand(spec: str) -> List[str]:
  """Beam pipeline arguments for one ``--beam-workers`` spec (see ``SPEC_HELP``).

  ``external:job=localhost:8099,pool=localhost:50000`` gives
  ``--runner=PortableRunner --job_endpoint=localhost:8099 --environment_type=EXTERNAL
  --environment_config=localhost:50000 --job_server_timeout=JOB_WAIT_S``. Arguments
  given after these (``--beam-arg``) override them. ``parallelism=N`` adds
  ``--sdk_worker_parallelism=N`` (workers per node on Flink and Spark; Beam's local job
  service runs one).
  """
  kind, sep, rest = spec.partition(':')
  if not sep or kind != 'external':
    raise ValueError(f'{FLAG} {spec!r}: expected {SPEC_HELP}')
  fields: Dict[str, str] = {}
  for part in rest.split(','):
    key, eq, value = part.partition('=')
    if not eq or key not in _KEYS:
      raise ValueError(f'{FLAG} {spec!r}: {part!r} is not one of '
                       f'{", ".join(k + "=" for k in _KEYS)}; expected {SPEC_HELP}')
    if key in fields:
      raise ValueError(f'{FLAG} {spec!r}: {key}= is given twice')
    fields[key] = value
  for key in ('job', 'pool'):
    if key not in fields:
      raise ValueError(f'{FLAG} {spec!r}: {key}=HOST:PORT is missing; expected {SPEC_HELP}')
    if not _ENDPOINT.match(fields[key]) or not 0 < int(fields[key].rsplit(':', 1)[1]) < 65536:
      raise ValueError(f'{FLAG} {spec!r}: {key}={fields[key]!r} is not HOST:PORT '
                       'with a port in 1..65535')
  args = ['--runner=PortableRunner', f'--job_endpoint={fields["job"]}',
          '--environment_type=EXTERNAL', f'--environment_config={fields["pool"]}',
          f'--job_server_timeout={JOB_WAIT_S}']
  if 'parallelism' in fields:
    if not fields['parallelism'].isdigit() or int(fields['parallelism']) < 1:
      raise ValueError(f'{FLAG} {spec!r}: parallelism={fields["parallelism"]!r} is not '
                       'a whole number of at least 1')
    args.append(f'--sdk_worker_parallelism={int(fields["parallelism"])}')
  return args


def _probe(_) -> None:
  """Runs on a worker: imports what ingest's DoFn needs, so that a worker that cannot
  fails here, with the import error in the job's message, and says which python it is
  in the job service's log."""
  import apache_beam as worker_beam
  import av
  import dlib
  from components.video_ingest import extract  # pylint: disable=unused-import
  logging.info('[beam-workers] worker python %s: apache_beam %s, dlib %s, av %s',
               sys.executable, worker_beam.__version__, dlib.__version__, av.__version__)


def external_pool(beam_pipeline_args: Sequence[str]) -> Optional[str]:
  """The worker pool's address when these arguments run Python on an EXTERNAL
  environment, else None (DirectRunner and its local workers need no check)."""
  from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions  # pylint: disable=g-import-not-at-top
  opts = PipelineOptions(list(beam_pipeline_args or [])).view_as(PortableOptions)
  if (opts.environment_type or '').upper() != 'EXTERNAL':
    return None
  return (opts.lookup_environment_option('external_service_address')
          or opts.environment_config or 'an unnamed address')


def check_workers(beam_pipeline_args: Sequence[str],
                  timeout_s: int = PROBE_TIMEOUT_S) -> None:
  """Run a one-element probe on these Beam arguments' external workers first.

  Raises RuntimeError naming the job service when it does not answer, or the worker
  pool and the likely cause when the probe fails or does not finish in ``timeout_s``
  (a limit that holds where a job service runs the probe: the portable runner). Does
  nothing for other environments.
  """
  pool = external_pool(beam_pipeline_args)
  if pool is None:
    return
  # pylint: disable=g-import-not-at-top
  import apache_beam as beam
  import grpc
  from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions
  from apache_beam.runners.runner import PipelineState
  # pylint: enable=g-import-not-at-top
  job = PipelineOptions(list(beam_pipeline_args)).view_as(PortableOptions).job_endpoint
  if job:
    try:
      grpc.channel_ready_future(grpc.insecure_channel(job)).result(timeout=timeout_s)
    except grpc.FutureTimeoutError as e:
      raise RuntimeError(f'the Beam job service at {job} did not answer in {timeout_s} s; '
                         'is it running, and is that its address?') from e
  cause = (f'the Beam worker pool at {pool} could not start a Python worker that imports '
           'apache_beam and palsy-tfx (dlib, av, components.video_ingest). The pool starts '
           'each worker with the first `python` on its own PATH: start the pool with the '
           "project venv's bin first on PATH (and this package importable there); the "
           "pool's own stderr shows the worker's import error")
  # The job's streams end at --job_server_timeout; past the limit, so that a probe that
  # has not finished by then is cancelled, not cut off mid-stream.
  options = PipelineOptions(list(beam_pipeline_args) +
                            [f'--job_server_timeout={2 * timeout_s}'])
  started = time.monotonic()
  pipeline = beam.Pipeline(options=options)
  _ = pipeline | 'Probe' >> beam.Create([0]) | 'Imports' >> beam.Map(_probe)
  try:
    result = pipeline.run()
    state = result.wait_until_finish(duration=timeout_s * 1000)
  except Exception as e:  # pylint: disable=broad-except
    # The job failed (a worker started, and an import failed), or its service did.
    raise RuntimeError(f'{cause}. The probe pipeline failed: {e}') from e
  if state != PipelineState.DONE:
    result.cancel()
    raise RuntimeError(f'{cause}. The probe pipeline did not finish in {timeout_s} s '
                       f'(state {state} after {time.monotonic() - started:.0f} s)')
  print(f'[beam-workers] the worker pool at {pool} runs ingest\'s imports '
        f'({time.monotonic() - started:.0f} s)', file=sys.stderr, flush=True)
