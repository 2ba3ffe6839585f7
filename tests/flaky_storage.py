"""A Beam filesystem, ``flaky://``, over local files, whose reads fail on cue.

It stands in for a bucket whose network drops: Beam's own ``FileSystems`` dispatch to
it by scheme, ``preprocessing.storage`` treats its paths as remote (listing, read
streams), and PyAV decodes from its streams as from S3's. A read fails with a
transient error (``ConnectionResetError``, as a reset socket raises) the first
``FAILS[name]`` times a file whose base name is ``name`` is read; ``-1`` fails every
read. Registered by import, in this process: use it with the in-memory DirectRunner.
"""
import io
import os
from typing import Dict

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = 'flaky'
PREFIX = f'{SCHEME}://'
FAILS: Dict[str, int] = {}   # base name -> reads still to fail (-1: all)
READS: Dict[str, int] = {}   # base name -> streams opened


def uri(local_path: str) -> str:
  return PREFIX + os.path.abspath(local_path)


def _local(path: str) -> str:
  return path[len(PREFIX):] if path.startswith(PREFIX) else path


class _FailingStream(io.RawIOBase):
  """Reads as the file does, except that the first read raises."""

  def __init__(self, path: str):
    self._file = open(path, 'rb')  # pylint: disable=consider-using-with
    self._fail = True

  def readable(self):
    return True

  def seekable(self):
    return True

  def seek(self, offset, whence=io.SEEK_SET):
    return self._file.seek(offset, whence)

  def tell(self):
    return self._file.tell()

  def readinto(self, buffer):
    if self._fail:
      self._fail = False
      raise ConnectionResetError(104, 'Connection reset by peer (flaky_storage)')
    data = self._file.read(len(buffer))
    buffer[:len(data)] = data
    return len(data)

  def close(self):
    self._file.close()
    super().close()


class FlakyFileSystem(LocalFileSystem):
  """Local files under ``flaky://`` paths, with reads that fail on cue."""

  @classmethod
  def scheme(cls):
    return SCHEME

  def join(self, basepath, *paths):
    return PREFIX + os.path.join(_local(basepath), *paths)

  def split(self, path):
    head, tail = os.path.split(_local(path))
    return PREFIX + head, tail

  def has_dirs(self):
    return False

  def _list(self, dir_or_prefix):
    base = _local(dir_or_prefix)
    folder = base if os.path.isdir(base) else os.path.dirname(base)
    for root, _, names in os.walk(folder):
      for name in names:
        path = os.path.join(root, name)
        if path.startswith(base):
          st = os.stat(path)
          yield FileMetadata(PREFIX + path, st.st_size, st.st_mtime)

  def exists(self, path):
    return os.path.exists(_local(path))

  def metadata(self, path):
    st = os.stat(_local(path))
    return FileMetadata(path, st.st_size, st.st_mtime)

  def open(self, path, mime_type='application/octet-stream', compression_type=None):
    name = os.path.basename(_local(path))
    READS[name] = READS.get(name, 0) + 1
    left = FAILS.get(name, 0)
    if left:
      FAILS[name] = left - 1 if left > 0 else -1
      return io.BufferedReader(_FailingStream(_local(path)))
    return open(_local(path), 'rb')  # pylint: disable=consider-using-with
