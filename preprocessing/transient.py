"""Tell a passing fault (a timeout, a reset connection, a 5xx) from a bad file, and
retry the first.

On a cluster, media come over the network. A read that times out says nothing about
the file, so it must never become a "failed input": that verdict is cached with the
run, and the rerun would be served the loss. A fault that persists through the retries
fails the run, naming the file; a failed run is not cached, so the next one reads it
again. A file that really cannot be read (FFmpeg's decode errors, ``MediaError``) is
not transient: it is a named failed input at once.
"""
import socket
import sys
import time
from typing import Callable, TypeVar

RETRIES = 3          # tries in all, the first included
BACKOFF_S = 1.0      # before the second try; doubled before each later one
_HTTP_TRANSIENT = frozenset({408, 429}) | frozenset(range(500, 600))

T = TypeVar('T')


class TransientReadError(RuntimeError):
  """A read that kept failing for a reason outside the file; the run stops."""


def _status(error: BaseException):
  for name in ('code', 'status_code', 'status'):
    value = getattr(error, name, None)
    if isinstance(value, int):
      return value
  return None


def is_transient(error: BaseException) -> bool:
  """Whether ``error`` may pass if the read is tried again.

  FFmpeg's own errors (``av.error.FFmpegError``, also OSErrors) judge the bytes, so
  they are not; the decoder only raises a bare OSError or timeout when the Python
  stream it reads (a bucket object) raised one. HTTP statuses 408, 429 and 5xx are;
  Beam's filesystems wrap the client's error in ``BeamIOError`` with the cause in
  ``exception_details``.
  """
  if type(error).__module__.startswith('av.'):
    return False
  details = getattr(error, 'exception_details', None)
  if isinstance(details, dict) and details:
    return any(isinstance(e, BaseException) and is_transient(e) for e in details.values())
  status = _status(error)
  if status is not None:
    return status in _HTTP_TRANSIENT
  return isinstance(error, (OSError, TimeoutError, ConnectionError, socket.timeout))


def retry(read: Callable[[], T], what: str, tries: int = RETRIES,
          backoff_s: float = BACKOFF_S) -> T:
  """``read()``, tried again after a transient error (with backoff), up to ``tries``
  times; then ``TransientReadError`` naming ``what``. Any other error is raised at once.
  ``read`` must start over on each call (its partial results discarded)."""
  for attempt in range(1, tries + 1):
    try:
      return read()
    except Exception as e:  # pylint: disable=broad-except
      if not is_transient(e):
        raise
      if attempt == tries:
        raise TransientReadError(
            f'{what}: still failing after {tries} tries ({type(e).__name__}: {e}); the run '
            f'stops rather than record it as a failed input. Check the storage or '
            f'network, and run again: nothing of it was cached') from e
      wait = backoff_s * 2 ** (attempt - 1)
      print(f'[ingest] {what}: {type(e).__name__}: {e}; try {attempt + 1} of {tries} in '
            f'{wait:.0f} s', file=sys.stderr, flush=True)
      time.sleep(wait)
  raise AssertionError('unreachable')
