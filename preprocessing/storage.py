"""Read media and manifests on any filesystem Beam reads: local paths as they are, and
``gs://``, ``s3://``, ``hdfs://`` ... through ``apache_beam.io.filesystems.FileSystems``.

A local path never goes through Beam: it is opened, statted and joined with the
standard library, as before object storage was supported, so local ingest costs what it
did. Beam's filesystems are imported only for a URI, because importing them loads the
GCS, S3 and HDFS clients (seconds), which ``palsy-tfx predict`` on a local file need
not pay.

Beam's filesystems take their settings (S3 endpoint and region, GCS project, HDFS
host) from pipeline options. A Beam worker sets them from the pipeline's own options
(``sdk_worker_main``, and ``beam.Pipeline`` in-process); code that reads before any
pipeline exists, as the ingest executor reads the manifest, calls ``set_options``.
"""
import dataclasses
import os
import posixpath
import re
from typing import BinaryIO, Dict, Optional, Sequence

# FileSystems.URI_SCHEMA_PATTERN (tests/test_object_storage.py checks they agree), here so
# that telling a local path from a URI needs no import of Beam.
_URI = re.compile(r'[a-zA-Z][-a-zA-Z0-9+.]*://')


@dataclasses.dataclass(frozen=True)
class Stat:
  size: int      # bytes
  mtime_ns: int  # last modification, nanoseconds since the epoch


def is_remote(path: str) -> bool:
  """Whether ``path`` is a URI that Beam's FileSystems read (``gs://b/x``), not a
  local path."""
  return bool(_URI.match(path.strip()))


def _filesystems():
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  return FileSystems


def set_options(beam_pipeline_args: Sequence[str]) -> None:
  """Give Beam's filesystems the pipeline's options (``--s3_endpoint_url``, ...) in
  this process, for reads made outside a Beam pipeline."""
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  _filesystems().set_options(PipelineOptions(list(beam_pipeline_args or [])))


def dirname(path: str) -> str:
  """The folder holding ``path``: for a URI, with its scheme and bucket."""
  if is_remote(path):
    return _filesystems().split(path)[0]
  return posixpath.dirname(path)


def join(base: str, rel: str) -> str:
  """``rel`` (a relative path with ``/``) under the folder ``base``."""
  if is_remote(base):
    return _filesystems().join(base, rel)
  return posixpath.join(base, rel)


def exists(path: str) -> bool:
  if is_remote(path):
    return _filesystems().exists(path)
  return os.path.exists(path)


def stat(path: str) -> Optional[Stat]:
  """Size and modification time of ``path`` (None when it does not exist), from the
  filesystem's metadata: the content is not read.

  A URI is asked for its own metadata rather than ``FileSystems.match``'d, where a
  name with ``[`` or ``*`` would be a pattern. Other errors (no permission, no
  network) raise.
  """
  if not is_remote(path):
    try:
      st = os.stat(path)
    except FileNotFoundError:
      return None
    return Stat(st.st_size, st.st_mtime_ns)
  from apache_beam.io.filesystem import BeamIOError  # pylint: disable=g-import-not-at-top
  filesystems = _filesystems()
  try:
    meta = filesystems.get_filesystem(path).metadata(path)
  except BeamIOError:
    if not filesystems.exists(path):  # asked only then: one request for a file that exists
      return None
    raise
  return Stat(meta.size_in_bytes, int(round(meta.last_updated_in_seconds * 1e9)))


def stats_under(folder: str, paths: Sequence[str]) -> Dict[str, Optional[Stat]]:
  """``stat`` of every path in ``paths`` (each under ``folder``), as a dict.

  On a bucket a stat is one metadata request, and a driver that asks one per file
  waits 100k round trips for a 100k-row manifest. So a URI folder is listed instead:
  ``FileSystems.match`` on ``folder/**`` pages through its objects a thousand at a
  time (GCS and S3), and each path is looked up in the listing. A path the listing
  lacks does not exist. A folder whose name holds a glob character is statted file by
  file (it would be read as a pattern). Local disks keep ``os.stat``: no round trips.
  """
  if not is_remote(folder) or _GLOB.search(folder):
    return {path: stat(path) for path in paths}
  listed = {}
  for result in _filesystems().match([folder.rstrip('/') + '/**']):
    for meta in result.metadata_list:
      listed[meta.path] = Stat(meta.size_in_bytes,
                               int(round(meta.last_updated_in_seconds * 1e9)))
  return {path: listed.get(path) for path in paths}


_GLOB = re.compile(r'[*?\[]')


def open_binary(path: str) -> BinaryIO:
  """``path`` opened for reading bytes, seekable, as a file to close.

  A URI's stream reads ahead in large ranged requests (16 MiB on S3) and seeks by
  starting a new one, so a decoder can read it as it reads a local file.
  """
  if not is_remote(path):
    return open(path, 'rb')  # pylint: disable=consider-using-with
  from apache_beam.io.filesystem import CompressionTypes  # pylint: disable=g-import-not-at-top
  # Not AUTO: a name ending in .gz must not be inflated behind the decoder's back.
  return _filesystems().open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
  with open_binary(path) as f:
    return f.read()
