"""Ingest at cohort scale: does the driver's work before Beam starts, and the job graph it
submits, stay small as the manifest grows? Manifests of 1k, 10k and 100k rows, each naming
as many distinct media objects, in a moto S3 server on loopback.

  .venv/bin/python bench/scale.py [--sizes 1000 10000 100000]

Per size, in a fresh subprocess (so that peak memory does not carry over from the size
before), one JSON line:

* ``graph_bytes``: the serialised Beam job graph (``Pipeline.to_runner_api()``) that the
  executor builds (``component.build_ingest`` with the real ``PlanSegments`` and
  ``ExtractFaces`` and a work list written by ``work_list.write``), not run; and
  ``old_graph_bytes``, the shape before issue 23 (``beam.Create`` of the checked items,
  a Reshuffle, a DoFn holding row -> pseudonyms and subject -> split), a reference built
  here and never run by ingest.
* ``driver_s``: the executor's work before the first element could be processed, in
  parts (``parts_s``: wall seconds; ``parts_cpu_s``: this process's CPU seconds): the
  pseudonym key, ``manifest.scan``, ``check_rows``, ``plan_splits``, ``item_ids``,
  ``work_list.plan`` + ``write``, and building the graph.
* ``requests``: requests the S3 server answered for the media bucket, from its access
  log: during ``manifest.fingerprint`` (the runner's cache key) and during the executor's
  work above (which reads the bucket only in ``scan``); none of them reads media.
* ``peak_rss_mb``: the subprocess's peak resident memory after that work
  (``ru_maxrss``), and ``rss_after_imports_mb`` before it.

Targets (exit status 1 when one fails): graph <= 1 MB at the largest size, and growing at
most 1.2x from the second-largest size to it; requests <= rows/500 + 10 for the
fingerprint and for the executor's pass, each; driver CPU seconds growing at most
linearly: (largest / second-largest) <= 1.2 x their row ratio. CPU seconds, not wall,
because the S3 stand-in runs on the same cores, and another job on a shared machine
slows the wall clock of one size but not another; wall seconds are printed beside them.

moto lists a bucket by sorting all of its keys for every page, so a listing of n keys
costs it O(n^2 / 1000): at 100k that would be the stand-in's time, not the driver's. The
server here answers the same pages from a sorted index of the keys instead, at a cost
per page as on S3 (``_fast_listing``; ``--moto-listing`` keeps moto's own).

Last line: {"sizes", "graph_bytes", "old_graph_bytes", "driver_s", "driver_cpu_s",
"requests_fingerprint", "requests_executor", "peak_rss_mb", "pass"}
"""
import argparse
import bisect
import glob
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

BUCKET = 'cohort'
MARKS = 'bench-marks'  # a second bucket: requests that mark a phase's start and end
REGION = 'us-east-1'
# A test key for synthetic rows of nobody: 64 hex digits (32 bytes, the minimum).
BENCH_KEY = '5ca1ab1e' * 8
GRADE_LABELS = ('I', 'II', 'III', 'IV', 'V', 'VI')
ROWS_PER_SUBJECT = 2
MEDIA_BYTES = b'\0\0\0\x18ftypmp42'  # a few bytes named .mp4: nothing here decodes it
RATIOS = (0.70, 0.15, 0.15)
# Targets.
GRAPH_MAX_BYTES = 1_000_000
GRAPH_MAX_GROWTH = 1.2
LINEAR_SLACK = 1.2
REQUESTS_PER_ROW = 1 / 500
REQUESTS_FIXED = 10
# A request line in werkzeug's access log: '... "GET /cohort/n1000/manifest.csv HTTP/1.1" 200 -',
# where werkzeug colours some statuses (206, 404, ...) with ANSI escapes inside the quotes.
_REQUEST = re.compile(r'"([A-Z]+) /([^/?\s]+)[/?\s]')
_ANSI = re.compile(r'\x1b\[[0-9;]*m')


def prefix(rows: int) -> str:
  return f'n{rows}'


def manifest_uri(rows: int) -> str:
  return f's3://{BUCKET}/{prefix(rows)}/manifest.csv'


def manifest_rows(rows: int):
  """(media key under the size's folder, CSV line) per row: every row its own object;
  two rows per subject, the six grades spread over subjects, both sources and sides."""
  for n in range(rows):
    subject = n // ROWS_PER_SUBJECT
    rel = f'media/s{subject:06d}/v{n:06d}.mp4'
    yield rel, (f'{rel},subject-{subject:06d},{GRADE_LABELS[subject % 6]},'
                f'{("meei", "yfp")[subject % 2]},{("left", "right")[(subject // 2) % 2]}')


# --- the S3 stand-in (its own process) -------------------------------------------------

def _fast_listing():
  """Make moto's ListObjectsV2 cost per page what S3's does: a bisect into a sorted
  index of the bucket's keys instead of sorting every key for every page. The pages are
  the same (checked against moto's own at start-up); a listing with a delimiter, or of a
  versioned or table bucket, goes to moto's code."""
  from moto.s3 import models  # pylint: disable=g-import-not-at-top
  original = models.S3Backend.list_objects_v2
  index = {}  # bucket name -> (number of keys, sorted names)

  def names_of(bucket):
    cached = index.get(bucket.name)
    if cached is None or cached[0] != len(bucket.keys):
      cached = index[bucket.name] = (len(bucket.keys), sorted(bucket.keys))
    return cached[1]

  def list_objects_v2(self, bucket, prefix, delimiter, continuation_token, start_after,
                      max_keys):
    if (delimiter or max_keys == 0 or isinstance(bucket, models.FakeTableStorageBucket)
        or getattr(bucket, 'is_versioned', False)):
      return original(self, bucket, prefix, delimiter, continuation_token, start_after,
                      max_keys)
    names, prefix = names_of(bucket), prefix or ''
    at = bisect.bisect_left(names, prefix)
    if continuation_token or start_after:
      limit = (self._pagination_tokens.get(continuation_token) if continuation_token  # pylint: disable=protected-access
               else start_after)
      at = max(at, bisect.bisect_right(names, limit))
    keys = []
    while at < len(names) and len(keys) <= max_keys and names[at].startswith(prefix):
      key = bucket.keys.get(names[at])
      if key is not None and not isinstance(key, models.FakeDeleteMarker):
        keys.append(key)
      at += 1
    return self._truncate_result(keys, max_keys)  # pylint: disable=protected-access

  models.S3Backend.list_objects_v2 = list_objects_v2
  return original


def _check_listing(backend, original, rows: int) -> None:
  """The fast listing's pages are moto's, for the smallest size's folder."""
  bucket = backend.get_bucket(BUCKET)

  def pages(lister):
    found, token = [], None
    while True:
      keys, truncated, token = lister(backend, bucket, prefix(rows) + '/', None, token,
                                      None, 250)
      found.append([k.name for k in keys])
      if not truncated:
        return found
  if pages(type(backend).list_objects_v2) != pages(original):
    raise AssertionError("the bench's fast listing differs from moto's")


def serve(sizes, access_log: str, moto_listing: bool) -> None:
  """Start the server, fill the bucket through moto's backend (a put per object over
  HTTP would take minutes at 100k), print the endpoint, serve until stdin closes."""
  from moto.core import DEFAULT_ACCOUNT_ID  # pylint: disable=g-import-not-at-top
  from moto.s3.models import s3_backends  # pylint: disable=g-import-not-at-top
  from moto.server import ThreadedMotoServer  # pylint: disable=g-import-not-at-top
  log = logging.getLogger('werkzeug')
  handler = logging.FileHandler(access_log)
  handler.setFormatter(logging.Formatter('%(message)s'))
  log.addHandler(handler)
  log.setLevel(logging.INFO)
  log.propagate = False
  original = None if moto_listing else _fast_listing()
  backend = s3_backends[DEFAULT_ACCOUNT_ID]['global']
  backend.create_bucket(BUCKET, REGION)
  backend.create_bucket(MARKS, REGION)
  start = time.perf_counter()
  for rows in sizes:
    lines = ['path,subject_id,label,source,side']
    for rel, line in manifest_rows(rows):
      backend.put_object(BUCKET, f'{prefix(rows)}/{rel}', MEDIA_BYTES)
      lines.append(line)
    backend.put_object(BUCKET, f'{prefix(rows)}/manifest.csv',
                       ('\n'.join(lines) + '\n').encode())
  if original is not None:
    _check_listing(backend, original, min(sizes))
  server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
  server.start()
  host, port = server.get_host_and_port()
  print(json.dumps({'endpoint': f'http://{host}:{port}',
                    'fill_s': round(time.perf_counter() - start, 1)}), flush=True)
  sys.stdin.read()  # until the bench closes it
  server.stop()


# --- one size, in its own process ------------------------------------------------------

class AccessLog:
  """The server's access log, read between two marker requests to the marks bucket, so
  that every request of a phase has been logged when it is counted."""

  def __init__(self, path: str, endpoint: str):
    import boto3  # pylint: disable=g-import-not-at-top
    self._path = path
    self._client = boto3.client('s3', endpoint_url=endpoint, region_name=REGION,
                                aws_access_key_id='testing', aws_secret_access_key='testing')
    self._offset = 0
    self._n = 0

  def _mark(self) -> list:
    """Ask for a marker object; the log's new lines up to its line."""
    self._n += 1
    name = f'mark-{os.getpid()}-{self._n}'
    try:
      self._client.head_object(Bucket=MARKS, Key=name)
    except Exception:  # pylint: disable=broad-except
      pass  # 404: the object does not exist; the request is what counts
    lines, deadline = [], time.monotonic() + 30
    while True:
      with open(self._path, 'rb') as f:
        f.seek(self._offset)
        chunk = f.read()
      end = chunk.rfind(b'\n') + 1
      self._offset += end
      lines += chunk[:end].decode('utf-8', 'replace').splitlines()
      if any(f'/{MARKS}/{name}' in line for line in lines):
        return lines
      if time.monotonic() > deadline:
        raise RuntimeError(f'the marker {name} never reached the access log')
      time.sleep(0.01)

  def start(self) -> None:
    self._mark()

  def stop(self) -> dict:
    """Requests to the media bucket since ``start``, by method."""
    by_method = {}
    for line in self._mark():
      match = _REQUEST.search(_ANSI.sub('', line))
      if match and match.group(2) == BUCKET:
        by_method[match.group(1)] = by_method.get(match.group(1), 0) + 1
    return by_method


def _rss_mb() -> float:
  import resource  # pylint: disable=g-import-not-at-top
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class _OldShape:
  """Before issue 23 (d73426e): the job graph held every checked item (``beam.Create``)
  and a DoFn holding row -> (subject pseudonym, video pseudonym) and raw subject ->
  split. A reference for the graph's size only, never run."""

  @staticmethod
  def graph_bytes(items, ids, split_of) -> int:
    import apache_beam as beam  # pylint: disable=g-import-not-at-top

    class OldExtractFaces(beam.DoFn):

      def __init__(self, ids, split_of):
        self._ids = ids
        self._split_of = split_of

      def process(self, item):
        yield self._split_of[item.subject_id], self._ids[item.row]

    p = beam.Pipeline()
    _ = (p | 'Items' >> beam.Create(items) | 'Spread' >> beam.Reshuffle()
         | 'ExtractFaces' >> beam.ParDo(OldExtractFaces(
             {row: (i.subject_id, i.video_id) for row, i in ids.items()}, dict(split_of))))
    return len(p.to_runner_api().SerializeToString())


def measure(rows: int, endpoint: str, access_log: str) -> dict:
  """One size: the fingerprint's requests, then the executor's work before Beam runs,
  timed part by part, as ``component.Executor.Do`` does it."""
  # pylint: disable=g-import-not-at-top
  import apache_beam as beam
  from tfx.types import artifact_utils, standard_artifacts
  from components.video_ingest import (component, extract, manifest, pseudonyms, segments,
                                      splits, work_list, workers)
  from preprocessing import crop_settings, storage
  # pylint: enable=g-import-not-at-top
  os.environ.pop(pseudonyms.KEY_FILE_ENV, None)
  os.environ[pseudonyms.KEY_ENV] = BENCH_KEY
  beam_args = [f'--s3_endpoint_url={endpoint}', f'--s3_region_name={REGION}',
               '--s3_access_key_id=testing', '--s3_secret_access_key=testing']
  log = AccessLog(access_log, endpoint)
  path = manifest_uri(rows)
  storage.set_options(beam_args)
  rss_after_imports = _rss_mb()

  log.start()
  fingerprint_start = time.perf_counter()
  manifest.fingerprint(path)
  fingerprint_s = time.perf_counter() - fingerprint_start
  fingerprint_requests = log.stop()

  work = tempfile.mkdtemp(prefix='palsy-scale-')
  examples = standard_artifacts.Examples()
  examples.uri = os.path.join(work, 'examples')
  examples.split_names = artifact_utils.encode_split_names(list(splits.SPLIT_NAMES))
  wall, cpu, out = {}, {}, {}

  def part(name, fn):
    start, start_cpu = time.perf_counter(), time.process_time()
    out[name] = fn()
    wall[name] = time.perf_counter() - start
    cpu[name] = time.process_time() - start_cpu
    return out[name]

  log.start()
  part('set_options', lambda: storage.set_options(beam_args))
  key = part('pseudonym_key', lambda: pseudonyms.ingest_key(path))
  found = part('scan', lambda: manifest.scan(path))
  items, failures = part('check_rows', lambda: manifest.check_rows(path, found.rows, None,
                                                                  found.stats))
  split_of, _ = part('plan_splits', lambda: component.plan_splits(items, RATIOS, failures))
  ids = part('item_ids', lambda: pseudonyms.item_ids(key, items))
  pattern = part('work_list', lambda: work_list.write(
      examples.uri, work_list.plan(items, ids, split_of)))
  part('check_workers', lambda: workers.check_workers(beam_args))

  def build():
    crop = crop_settings.CropSettings()
    progress_dir = os.path.join(examples.uri, '_progress')
    p = beam.Pipeline()
    component.build_ingest(
        p, pattern, examples, os.path.join(examples.uri, '_stats', 'part'),
        segments.PlanSegments(segments.MediaLimits(), segments.DEFAULT_SEGMENT_S,
                              progress_dir, extract.STATS_TAG),
        extract.ExtractFaces(source_fps=crop_settings.DEFAULT_SOURCE_FPS,
                             default_fps=crop_settings.DEFAULT_FPS, crop=crop,
                             threaded=component.decode_ahead(beam_args),
                             progress_dir=progress_dir, split_by='subject',
                             ratios=list(RATIOS)))
    return p
  pipeline = part('build_graph', build)
  # Over all of the executor's work; only scan reads the bucket (the rest is local).
  executor_requests = log.stop()
  graph_bytes = len(pipeline.to_runner_api().SerializeToString())
  peak_rss = _rss_mb()
  if len(items) != rows or failures:
    raise AssertionError(f'{rows} rows: {len(items)} items, {len(failures)} refused '
                         f'({failures[:3]})')
  shards = len(glob.glob(pattern))
  old_graph_bytes = _OldShape.graph_bytes(items, ids, split_of)
  shutil.rmtree(work, ignore_errors=True)
  return {
      'rows': rows,
      'graph_bytes': graph_bytes,
      'old_graph_bytes': old_graph_bytes,
      'driver_s': round(sum(wall.values()), 3),
      'driver_cpu_s': round(sum(cpu.values()), 3),
      'parts_s': {k: round(v, 4) for k, v in wall.items()},
      'parts_cpu_s': {k: round(v, 4) for k, v in cpu.items()},
      'fingerprint_s': round(fingerprint_s, 3),
      'requests': {'fingerprint': sum(fingerprint_requests.values()),
                   'executor': sum(executor_requests.values()),
                   'total': sum(fingerprint_requests.values()) + sum(executor_requests.values()),
                   'fingerprint_by_method': fingerprint_requests,
                   'executor_by_method': executor_requests},
      'request_limit': rows * REQUESTS_PER_ROW + REQUESTS_FIXED,
      'work_list_shards': shards,
      'rss_after_imports_mb': round(rss_after_imports, 1),
      'peak_rss_mb': round(peak_rss, 1),
  }


# --- the bench -------------------------------------------------------------------------

def check_targets(results) -> list:
  """(target, measured, passed) for the largest size against the second-largest."""
  checks = []
  big = results[-1]
  checks.append((f'graph <= {GRAPH_MAX_BYTES:,} bytes at {big["rows"]:,} rows',
                 f'{big["graph_bytes"]:,}', big['graph_bytes'] <= GRAPH_MAX_BYTES))
  for r in results:
    for phase in ('fingerprint', 'executor'):
      checks.append((f'{phase} requests <= rows/500 + 10 = {r["request_limit"]:g} at '
                     f'{r["rows"]:,} rows', r['requests'][phase],
                     r['requests'][phase] <= r['request_limit']))
  if len(results) >= 2:
    small = results[-2]
    growth = big['graph_bytes'] / small['graph_bytes']
    checks.append((f'graph growth {small["rows"]:,} -> {big["rows"]:,} rows <= '
                   f'{GRAPH_MAX_GROWTH}x', f'{growth:.3f}x', growth <= GRAPH_MAX_GROWTH))
    rows_ratio = big['rows'] / small['rows']
    cpu = big['driver_cpu_s'] / max(small['driver_cpu_s'], 1e-9)
    limit = LINEAR_SLACK * rows_ratio
    checks.append((f'driver CPU seconds {small["rows"]:,} -> {big["rows"]:,} rows <= '
                   f'{LINEAR_SLACK} x {rows_ratio:g} = {limit:g}x (linear)',
                   f'{cpu:.2f}x (wall {big["driver_s"] / max(small["driver_s"], 1e-9):.2f}x)',
                   cpu <= limit))
  return checks


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=[1000, 10000, 100000],
                      help='manifest rows, one measurement each (default: 1000 10000 100000)')
  parser.add_argument('--moto-listing', action='store_true',
                      help="keep moto's own listing (it sorts every key for every page)")
  parser.add_argument('--measure', type=int, help=argparse.SUPPRESS)
  parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--endpoint', help=argparse.SUPPRESS)
  parser.add_argument('--access-log', help=argparse.SUPPRESS)
  args = parser.parse_args()
  sizes = sorted(set(args.sizes))
  if args.serve:
    serve(sizes, args.access_log, args.moto_listing)
    return 0
  if args.measure:
    print(json.dumps(measure(args.measure, args.endpoint, args.access_log)), flush=True)
    return 0

  work = tempfile.mkdtemp(prefix='palsy-scale-bench-')
  access_log = os.path.join(work, 'access.log')
  me = [sys.executable, os.path.abspath(__file__)]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
  print(f'filling a moto S3 server with {sum(sizes):,} objects (manifests of '
        f'{", ".join(f"{n:,}" for n in sizes)} rows) ...', flush=True)
  server = subprocess.Popen(
      me + ['--serve', '--access-log', access_log, '--sizes', *map(str, sizes)] +
      (['--moto-listing'] if args.moto_listing else []),
      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
  results = []
  try:
    ready = server.stdout.readline()
    if not ready:
      raise RuntimeError('the S3 server process ended before it was ready')
    ready = json.loads(ready)
    print(f'  filled in {ready["fill_s"]} s; serving at {ready["endpoint"]}', flush=True)
    for rows in sizes:
      done = subprocess.run(me + ['--measure', str(rows), '--endpoint', ready['endpoint'],
                                  '--access-log', access_log],
                            stdout=subprocess.PIPE, text=True, env=env, check=True)
      result = json.loads(done.stdout.strip().splitlines()[-1])
      results.append(result)
      print(json.dumps(result), flush=True)
  finally:
    server.stdin.close()
    server.wait(timeout=60)
    shutil.rmtree(work, ignore_errors=True)

  print(f'\n{"rows":>8} {"graph B":>9} {"old graph B":>12} {"driver s":>9} {"cpu s":>7} '
        f'{"fp req":>6} {"exec req":>8} {"peak RSS MB":>11}')
  for r in results:
    print(f'{r["rows"]:>8,} {r["graph_bytes"]:>9,} {r["old_graph_bytes"]:>12,} '
          f'{r["driver_s"]:>9.2f} {r["driver_cpu_s"]:>7.2f} {r["requests"]["fingerprint"]:>6} '
          f'{r["requests"]["executor"]:>8} {r["peak_rss_mb"]:>11.0f}')
  checks = check_targets(results)
  print('\ntargets:')
  for target, measured, passed in checks:
    print(f'  {"PASS" if passed else "FAIL"}  {target}: {measured}')
  passed = all(ok for _, _, ok in checks)
  print(json.dumps({
      'sizes': [r['rows'] for r in results],
      'graph_bytes': [r['graph_bytes'] for r in results],
      'old_graph_bytes': [r['old_graph_bytes'] for r in results],
      'driver_s': [r['driver_s'] for r in results],
      'driver_cpu_s': [r['driver_cpu_s'] for r in results],
      'requests_fingerprint': [r['requests']['fingerprint'] for r in results],
      'requests_executor': [r['requests']['executor'] for r in results],
      'peak_rss_mb': [r['peak_rss_mb'] for r in results],
      'pass': passed}))
  return 0 if passed else 1


if __name__ == '__main__':
  sys.exit(main())
