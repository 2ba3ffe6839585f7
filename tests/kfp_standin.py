"""A stand-in for the Kubeflow Pipelines API server (KFP API v2beta1), on loopback.

No KFP server can run here (it needs Kubernetes, MySQL and object storage), so this
answers the routes that kfp 2.5's ``kfp.Client`` calls to upload a pipeline and start a
run, with the JSON shapes of kfp_server_api's V2beta1 models, and records what it was
sent. It keeps pipelines, versions and experiments in memory, so a second submission
sees the first one's pipeline. ``fail_on``: a route (method and path) answered with an
error, as the real server answers one (``{"error", "code", "message"}``).
"""
import email.parser
import email.policy
import http.server
import json
import threading
import urllib.parse
from typing import Optional, Tuple

API = '/apis/v2beta1'


class KfpStandin:
  """``with KfpStandin() as server:`` serves on ``server.url``."""

  def __init__(self, fail_on: Optional[Tuple[str, str]] = None):
    self.fail_on = fail_on
    self.uploads = []      # (route, query, filename, package bytes)
    self.runs = []         # the request bodies of run creation
    self.experiments = {}  # id -> display name
    self.pipelines = {}    # id -> display name
    self.versions = {}     # pipeline id -> [version ids]
    self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
    self.url = f'http://127.0.0.1:{self._server.server_address[1]}'
    self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._server.shutdown()
    self._server.server_close()
    self._thread.join()

  def _handler(self):
    standin = self

    class Handler(http.server.BaseHTTPRequestHandler):
      def log_message(self, *args):  # quiet
        pass

      def _answer(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

      def _route(self, method: str):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if standin.fail_on == (method, url.path):
          return self._answer(500, {'error': 'stand-in failure', 'code': 13,
                                    'message': f'cannot store {url.path}: disk full'})
        status, answer = standin.answer(method, url.path, query, body,
                                        self.headers.get('Content-Type', ''))
        return self._answer(status, answer)

      def do_GET(self):  # pylint: disable=invalid-name
        self._route('GET')

      def do_POST(self):  # pylint: disable=invalid-name
        self._route('POST')

    return Handler

  def answer(self, method: str, path: str, query: dict, body: bytes, content_type: str):
    """(status, JSON body) for one request."""
    if (method, path) == ('GET', f'{API}/healthz'):
      return 200, {'multi_user': False}
    if (method, path) in (('POST', f'{API}/pipelines/upload'),
                          ('POST', f'{API}/pipelines/upload_version')):
      filename, package = _multipart_file(body, content_type, 'uploadfile')
      self.uploads.append((path.rsplit('/', 1)[1], query, filename, package))
      if path.endswith('/upload'):
        pipeline_id = f'pipeline-{len(self.pipelines) + 1}'
        self.pipelines[pipeline_id] = query['name']
      else:
        pipeline_id = query['pipelineid']
      version_id = f'version-{len(self.uploads)}'
      self.versions.setdefault(pipeline_id, []).append(version_id)
      if path.endswith('/upload'):
        return 200, {'pipeline_id': pipeline_id, 'display_name': query['name']}
      return 200, {'pipeline_id': pipeline_id, 'pipeline_version_id': version_id,
                   'display_name': query['name']}
    if (method, path) == ('GET', f'{API}/pipelines'):
      name = _filtered_name(query)
      found = [{'pipeline_id': i, 'display_name': n} for i, n in self.pipelines.items()
               if n == name]
      return 200, ({'pipelines': found, 'total_size': len(found)} if found else {})
    if method == 'GET' and path.startswith(f'{API}/pipelines/') and path.endswith('/versions'):
      pipeline_id = path.split('/')[-2]
      versions = [{'pipeline_id': pipeline_id, 'pipeline_version_id': v}
                  for v in reversed(self.versions.get(pipeline_id, []))]  # newest first
      return 200, {'pipeline_versions': versions[:int(query.get('page_size', 10))],
                   'total_size': len(versions)}
    if (method, path) == ('GET', f'{API}/experiments'):
      name = _filtered_name(query)
      found = [{'experiment_id': i, 'display_name': n} for i, n in self.experiments.items()
               if n == name]
      return 200, ({'experiments': found, 'total_size': len(found)} if found else {})
    if (method, path) == ('POST', f'{API}/experiments'):
      experiment_id = f'experiment-{len(self.experiments) + 1}'
      self.experiments[experiment_id] = json.loads(body)['display_name']
      return 200, {'experiment_id': experiment_id,
                   'display_name': self.experiments[experiment_id]}
    if (method, path) == ('POST', f'{API}/runs'):
      run = json.loads(body)
      self.runs.append(run)
      return 200, {**run, 'run_id': f'run-{len(self.runs)}', 'state': 'PENDING'}
    return 404, {'error': f'no route {method} {path}', 'code': 5,
                 'message': f'no route {method} {path}'}


def _filtered_name(query: dict) -> Optional[str]:
  """The display name a list request filters on (``kfp.Client``'s EQUALS filter)."""
  if 'filter' not in query:
    return None
  [predicate] = json.loads(query['filter'])['predicates']
  # kfp.Client sends the operation as the enum's number: EQUALS is 1.
  assert (predicate['key'], predicate['operation']) == ('display_name', 1)
  return predicate['stringValue']


def _multipart_file(body: bytes, content_type: str, field: str) -> Tuple[str, bytes]:
  """(filename, bytes) of one file field of a multipart/form-data body."""
  message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
      f'Content-Type: {content_type}\r\n\r\n'.encode() + body)
  for part in message.iter_parts():
    if part.get_param('name', header='content-disposition') == field:
      return part.get_filename(), part.get_payload(decode=True)
  raise ValueError(f'no {field} in the upload')
