"""Manifests and media in object storage: ingest from ``s3://`` gives what local disk does.

moto's S3 server (``moto.server.ThreadedMotoServer``, on a free loopback port) stands
in for S3: no cloud can be reached from CI. Everything else is real: Beam's own S3
filesystem and boto3 talk HTTP to it, PyAV decodes from Beam's read stream, and the
ingest runs on TFX's LocalDagRunner (SQLite MLMD) with Beam's multi-processing
DirectRunner, whose worker subprocesses get the S3 endpoint from the pipeline's
``beam_pipeline_args`` as a Dataflow or Flink worker would.
"""
import glob
import json
import logging
import os
import subprocess
import sys

import pytest

from components.video_ingest import manifest, splits
from pipeline.options import DataOptions, RuntimeOptions
from pipeline.runners import local as local_runner
from preprocessing import frames, storage
from preprocessing.media_writer import write_video
from tests import ingest_fixtures
from tests.conftest import ROOT, subject_frames, write_jpeg

BUCKET = 'cohort'
PREFIX = f's3://{BUCKET}/clinic'
IMAGE_SIZE = 64


class _Requests(logging.Handler):
  """The S3 requests the server answered, as its access log lines ("GET /cohort/...")."""

  def __init__(self):
    super().__init__(logging.INFO)
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())

  def media_reads(self):
    return [l for l in self.lines if 'GET /' in l and '/media/' in l]


@pytest.fixture(scope='module')
def s3():
  """A loopback S3 server with an empty bucket; Beam's filesystems pointed at it."""
  from moto.server import ThreadedMotoServer  # pylint: disable=g-import-not-at-top
  import boto3  # pylint: disable=g-import-not-at-top
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  requests = _Requests()
  access_log = logging.getLogger('werkzeug')
  access_log.addHandler(requests)
  access_log.setLevel(logging.INFO)
  access_log.propagate = False
  server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
  server.start()
  host, port = server.get_host_and_port()
  endpoint = f'http://{host}:{port}'
  # Test credentials: moto accepts any. Real ones belong in the workers' environment
  # (AWS_ACCESS_KEY_ID, an instance role), not in arguments (see docs/data.md).
  beam_args = [f'--s3_endpoint_url={endpoint}', '--s3_region_name=us-east-1',
               '--s3_access_key_id=testing', '--s3_secret_access_key=testing']
  client = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                        aws_access_key_id='testing', aws_secret_access_key='testing')
  client.create_bucket(Bucket=BUCKET)
  storage.set_options(beam_args)
  yield {'client': client, 'beam_args': beam_args, 'requests': requests}
  FileSystems.set_options(None)
  server.stop()
  access_log.removeHandler(requests)
  access_log.propagate = True


def _upload(s3, local_root, prefix='clinic'):
  for path in glob.glob(os.path.join(local_root, '**', '*'), recursive=True):
    if os.path.isfile(path):
      s3['client'].upload_file(path, BUCKET, f'{prefix}/{os.path.relpath(path, local_root)}')


# --- paths -------------------------------------------------------------------------

@pytest.mark.parametrize('path', [
    's3://b/m.csv', 'gs://b/x/m.csv', 'hdfs://nn:8020/d/m.csv', 'azfs://acct/c/m.csv',
    '/data/m.csv', 'data/m.csv', 'C:\\data\\m.csv', 'media/a:b.mp4', ''])
def test_uri_rule_is_beams(path):
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  assert storage.is_remote(path) == (FileSystems.get_scheme(path) is not None)


@pytest.mark.parametrize('manifest_path, rel, expected', [
    ('s3://cohort/clinic/manifest.csv', 'media/p1.mp4', 's3://cohort/clinic/media/p1.mp4'),
    ('s3://cohort/manifest.csv', './media/../media/p1.mp4', 's3://cohort/media/p1.mp4'),
    ('gs://cohort/a/b/manifest.csv', 'media\\p1.mp4', 'gs://cohort/a/b/media/p1.mp4'),
    ('/data/clinic/manifest.csv', 'media/p1.mp4', '/data/clinic/media/p1.mp4'),
    ('manifest.csv', 'media/p1.mp4', 'media/p1.mp4'),
    ('s3://cohort/clinic/manifest.csv', '../other/p1.mp4', None),
    ('s3://cohort/clinic/manifest.csv', 's3://elsewhere/p1.mp4', None),
    ('gs://cohort/manifest.csv', '/p1.mp4', None),
])
def test_relative_paths_resolve_against_the_manifests_folder(manifest_path, rel, expected):
  # pylint: disable=protected-access
  assert manifest.safe_join(storage.dirname(manifest_path), rel) == expected


@pytest.mark.slow
def test_a_row_keeps_its_path_as_written_wherever_the_manifest_is(s3, tmp_path):
  (tmp_path / 'media').mkdir()
  (tmp_path / 'media' / 'p1.mp4').write_bytes(b'x' * 10)
  (tmp_path / 'manifest.csv').write_text('path,subject_id,label,source\n'
                                         './media/p1.mp4,s1,I,meei\n')
  _upload(s3, str(tmp_path), 'rows')
  local, _ = manifest.check_rows(str(tmp_path / 'manifest.csv'),
                                 manifest.read_rows(str(tmp_path / 'manifest.csv')))
  remote, failed = manifest.check_rows(f's3://{BUCKET}/rows/manifest.csv',
                                  manifest.read_rows(f's3://{BUCKET}/rows/manifest.csv'))
  assert [i.path for i in local] == [str(tmp_path / 'media' / 'p1.mp4')]
  assert not failed, failed
  assert [i.path for i in remote] == [f's3://{BUCKET}/rows/media/p1.mp4']
  # rel_path feeds video_id: the same for the same row on any filesystem.
  assert [i.rel_path for i in local] == [i.rel_path for i in remote] == ['./media/p1.mp4']


# --- media -------------------------------------------------------------------------

def _recorded_streams(monkeypatch):
  """Let ``storage.open_binary`` run, and keep what it returned to look at after."""
  opened = []
  real = storage.open_binary

  def recording(path):
    opened.append(real(path))
    return opened[-1]
  monkeypatch.setattr(storage, 'open_binary', recording)
  return opened


@pytest.fixture(scope='module')
def remote_media(s3, tmp_path_factory):
  root = tmp_path_factory.mktemp('media')
  write_video(str(root / 'good.mp4'), subject_frames(2, 30, seed=1), fps=25)
  write_jpeg(str(root / 'still.jpg'), subject_frames(2, 1, seed=1)[0])
  data = (root / 'good.mp4').read_bytes()
  (root / 'broken.mp4').write_bytes(data[:len(data) // 3])  # its index is gone
  _upload(s3, str(root), 'media')
  return root


@pytest.mark.slow
def test_remote_media_decode_as_local_media_do(remote_media, monkeypatch):
  opened = _recorded_streams(monkeypatch)
  local = list(frames.sample_video(str(remote_media / 'good.mp4'), 5))
  remote = list(frames.sample_video(f's3://{BUCKET}/media/good.mp4', 5))
  assert len(local) == 6  # 30 frames at 25 fps: 1.2 s at 5 fps
  assert [(f.index, f.timestamp_ms) for f in remote] == [(f.index, f.timestamp_ms) for f in local]
  assert all((a.rgb == b.rgb).all() for a, b in zip(local, remote))
  assert (frames.read_image(f's3://{BUCKET}/media/still.jpg') ==
          frames.read_image(str(remote_media / 'still.jpg'))).all()
  assert len(opened) == 2 and all(f.closed for f in opened)


@pytest.mark.slow
def test_the_remote_stream_is_closed_on_a_decode_error(remote_media, monkeypatch):
  opened = _recorded_streams(monkeypatch)
  with pytest.raises(frames.MediaError) as remote:
    list(frames.sample_video(f's3://{BUCKET}/media/broken.mp4', 5))
  assert len(opened) == 1 and opened[0].closed
  with pytest.raises(frames.MediaError) as local:
    list(frames.sample_video(str(remote_media / 'broken.mp4'), 5))
  # The reason reads as for the local file, naming the URI.
  assert str(remote.value) == str(local.value).replace(str(remote_media), f's3://{BUCKET}/media')
  assert str(local.value).startswith('cannot open video: [Errno 1094995529] Invalid data found')


@pytest.mark.slow
def test_the_remote_stream_is_closed_when_the_reader_stops_early(remote_media, monkeypatch):
  opened = _recorded_streams(monkeypatch)
  sampled = frames.sample_video(f's3://{BUCKET}/media/good.mp4', 5, threaded=True)
  next(sampled)
  sampled.close()
  assert len(opened) == 1 and opened[0].closed


def test_a_local_path_goes_to_the_decoder_as_it_is(tmp_path, monkeypatch):
  """No copy, no stream, no Beam: FFmpeg opens the local file itself."""
  def refuse(path):
    raise AssertionError(f'{path} was opened as a stream')
  monkeypatch.setattr(storage, 'open_binary', refuse)
  monkeypatch.setattr(storage, 'read_bytes', refuse)
  path = str(tmp_path / 'v.mp4')
  write_video(path, subject_frames(2, 10, seed=1), fps=25)
  write_jpeg(str(tmp_path / 's.jpg'), subject_frames(2, 1, seed=1)[0])
  assert len(list(frames.sample_video(path, 5))) == 2
  assert frames.read_image(str(tmp_path / 's.jpg')).shape == (160, 200, 3)
  # ... and Beam's filesystems are not even imported for it.
  code = ('import sys; from preprocessing import frames; '
          f'assert len(list(frames.sample_video({path!r}, 5))) == 2; '
          "print(sorted(m for m in sys.modules if m.startswith('apache_beam')))")
  out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True,
                       capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT)).stdout
  assert out.strip() == '[]'


# --- the dataset version ----------------------------------------------------------

@pytest.mark.slow
def test_the_fingerprint_of_a_remote_manifest_lists_its_media_without_reading_them(
    s3, tmp_path):
  (tmp_path / 'media').mkdir()
  (tmp_path / 'media' / 'p1.mp4').write_bytes(b'x' * 10)
  (tmp_path / 'media' / 'p2.mp4').write_bytes(b'y' * 20)
  (tmp_path / 'manifest.csv').write_text('path,subject_id,label,source\n'
                                         'media/p1.mp4,s1,I,meei\nmedia/p2.mp4,s2,II,meei\n')
  _upload(s3, str(tmp_path), 'fp')
  uri = f's3://{BUCKET}/fp/manifest.csv'
  del s3['requests'].lines[:]
  first = manifest.fingerprint(uri)
  assert s3['requests'].media_reads() == []
  # One listing of the manifest's folder, not a metadata request per file.
  assert sum('HEAD /cohort/fp/media/' in l for l in s3['requests'].lines) == 0
  assert sum('list-type=2' in l for l in s3['requests'].lines) == 1
  assert manifest.fingerprint(uri) == first
  s3['client'].put_object(Bucket=BUCKET, Key='fp/media/p2.mp4', Body=b'z' * 21)
  assert manifest.fingerprint(uri) != first


# --- ingest ------------------------------------------------------------------------

def _ingest(manifest_path, root, beam_args):
  # As the CLI must: the fingerprint reads before any pipeline (and an earlier in-process
  # pipeline left its own options in Beam's filesystems).
  storage.set_options(beam_args)
  metadata_path = local_runner.run(
      root, DataOptions(manifest_path, ingest_image_size=IMAGE_SIZE,
                        input_fingerprint=manifest.fingerprint(manifest_path)),
      runtime=RuntimeOptions(beam_args=tuple(beam_args)), stop_after='ingest')
  per_split, ingest_summary = ingest_fixtures.read_ingest(metadata_path)
  return {split: sorted(examples, key=lambda e: (
      e.features.feature['video_id'].bytes_list.value[0],
      e.features.feature['timestamp_ms'].int64_list.value[0]))
          for split, examples in per_split.items()}, ingest_summary


@pytest.fixture(scope='module')
def ingested(s3, tmp_path_factory, no_face_images):
  root = tmp_path_factory.mktemp('object_storage')
  data = ingest_fixtures.build(str(root / 'data'), no_face_images)
  _upload(s3, str(root / 'data'))
  local = _ingest(data['manifest'], str(root / 'local'),
                  ['--direct_running_mode=in_memory'])
  remote = _ingest(f'{PREFIX}/manifest.csv', str(root / 'remote'),
                   s3['beam_args'] + ['--direct_running_mode=multi_processing',
                                      '--direct_num_workers=2'])
  return {'local': local, 'remote': remote, 'data_root': str(root / 'data')}


@pytest.mark.slow
def test_ingest_from_s3_gives_the_examples_that_local_disk_gives(ingested):
  (local, _), (remote, _) = ingested['local'], ingested['remote']
  assert {s: len(v) for s, v in remote.items()} == {s: len(v) for s, v in local.items()}
  for split in splits.SPLIT_NAMES:
    assert local[split], split
    # Whole examples: image bytes, label, subject and video ids, timestamps, boxes.
    assert remote[split] == local[split], split


@pytest.mark.slow
def test_remote_failures_name_their_row_and_reason_and_the_rest_is_ingested(ingested):
  (_, local), (_, remote) = ingested['local'], ingested['remote']
  missing = [f for f in remote['failed_inputs'] if f['row'] == 12]
  assert missing and missing[0]['reason'] == 'row 12: file not found'
  # The same rows fail for the same reasons, named by row and pseudonym wherever the
  # media are: neither names a path or a URI.
  assert len(local['failed_inputs']) == 12  # every bad-input case of ingest_fixtures
  assert remote['failed_inputs'] == local['failed_inputs']
  assert PREFIX not in json.dumps(remote) and ingested['data_root'] not in json.dumps(local)
  for key in ('examples_per_split', 'examples_per_class', 'subjects_per_split',
              'faces_found', 'videos_read', 'images_read'):
    assert remote[key] == local[key], key
