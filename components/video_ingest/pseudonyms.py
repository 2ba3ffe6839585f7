"""The pseudonym key, and the one scheme that turns ids into pseudonyms.

Examples never carry a raw subject id or a media path. They carry

  subject_id = HMAC-SHA256(key, 'subject:' + raw subject id)
  video_id   = HMAC-SHA256(key, 'video:' + path as written in the manifest)

in hex, cut to 20 characters (80 bits). The prefixes separate the two domains, so a
subject whose id reads like a path never shares a pseudonym with that file. Without
the key, nobody can compute a pseudonym from a guessed patient id; with it, anybody
can. So the key is a secret:

* It is read when the VideoIngest executor runs (``ingest_key``), from the
  environment: ``PALSY_PSEUDONYM_KEY`` holds the key itself, or
  ``PALSY_PSEUDONYM_KEY_FILE`` names a file holding it (a mounted Kubernetes Secret,
  ``SECRET_NAME`` with data key ``SECRET_KEY``). One trailing newline of the file is
  dropped, so ``echo KEY > file`` and ``export PALSY_PSEUDONYM_KEY=$(cat file)`` give
  the same key. It is never an execution parameter, so it never reaches MLMD or a
  compiled pipeline.
* Neither variable takes precedence: set one. When both are set they must hold the
  same key, or the run stops. Two different keys mean one of them is a mistake, and
  a wrong key would silently give every subject a new pseudonym.
* A key shorter than ``MIN_KEY_BYTES`` (32 bytes) is refused: the key is the only
  thing between a guessable patient id and its pseudonym, so it must itself be
  unguessable. ``python -c 'import secrets; print(secrets.token_hex(32))'`` makes one.
* Only the demo may go without one. When neither variable is set and the manifest is
  ``palsy-tfx sample-data``'s synthetic faces, as that command wrote them (its marker
  holds a keyed digest of the manifest: ``manifest.sample_marker``), ``DEMO_KEY``
  (public, written below) is used and the run says so; any other run, a copied
  marker's or an edited manifest's included, stops before any media is decoded.

The key never reaches a Beam worker: the executor computes every item's pseudonyms
(``item_ids``) before Beam starts and writes them into the work list
(``work_list``), which workers read. Passing the key in the pickled DoFn would put it
into the job graph that Dataflow, Flink or Spark stage and show; reading it in the
DoFn's ``setup`` would need the secret mounted on every worker. The work list carries
the pseudonyms instead, and no raw subject id.

Changing the key changes every pseudonym, so keep the key with the dataset. The
subject split does not depend on it (``splits.hash_point`` uses the raw id); the
leaky frame split of ``palsy-tfx leakage`` draws each frame by its ``video_id``, so
that one does.
"""
import hashlib
import hmac
import os
import sys
from typing import Dict, Iterable, Mapping, NamedTuple, Optional

from components.video_ingest import manifest

KEY_ENV = 'PALSY_PSEUDONYM_KEY'
KEY_FILE_ENV = 'PALSY_PSEUDONYM_KEY_FILE'
# The Kubernetes Secret that holds the key (kubeflow/pseudonym-key-secret.yaml).
SECRET_NAME = 'palsy-pseudonym-key'
SECRET_KEY = 'key'
MIN_KEY_BYTES = 32
# Public, so its pseudonyms protect nothing: for the synthetic sample data only.
DEMO_KEY = b'palsy-tfx public demo key, for the synthetic sample data only'
PSEUDONYM_CHARS = 20
MAKE_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"


class PseudonymKeyError(ValueError):
  """No usable pseudonym key; nothing is ingested."""


class Ids(NamedTuple):
  """An item's pseudonyms, as its examples carry them."""
  subject_id: str
  video_id: str


def pseudonym(key: bytes, domain: str, value: str) -> str:
  """HMAC-SHA256(key, domain + ':' + value) in hex, cut to PSEUDONYM_CHARS."""
  message = f'{domain}:{value}'.encode('utf-8')
  return hmac.new(key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]


def subject_id(key: bytes, raw_subject_id: str) -> str:
  """The examples' ``subject_id``: raw ids never leave the manifest."""
  return pseudonym(key, 'subject', raw_subject_id)


def video_id(key: bytes, rel_path: str) -> str:
  """The examples' ``video_id``: names the file (as the manifest writes it) without
  showing its path."""
  return pseudonym(key, 'video', rel_path)


def item_ids(key: bytes, items: Iterable[manifest.Item]) -> Dict[int, Ids]:
  """Manifest row -> that item's pseudonyms, for the DoFn to look up."""
  return {item.row: Ids(subject_id(key, item.subject_id), video_id(key, item.rel_path))
          for item in items}


def failed_input(key: bytes, failure: manifest.Failure) -> dict:
  """A refused row as the summary and the report name it: by manifest row and video
  pseudonym, never by its path (which often carries a patient's name)."""
  return {'row': failure.row, 'video': video_id(key, failure.rel_path) if failure.rel_path
          else None, 'reason': failure.reason.replace(failure.path, f'<row {failure.row}>')}


def _strip_newline(data: bytes) -> bytes:
  for end in (b'\r\n', b'\n'):
    if data.endswith(end):
      return data[:-len(end)]
  return data


def read_key(environ: Mapping[str, str] = os.environ) -> Optional[bytes]:
  """The key from ``KEY_ENV`` or the file ``KEY_FILE_ENV`` names; None when neither
  is set (an empty variable counts as unset). Raises PseudonymKeyError for an
  unreadable file, two different keys, or a key shorter than MIN_KEY_BYTES."""
  found = {}
  if environ.get(KEY_ENV):
    found[KEY_ENV] = environ[KEY_ENV].encode('utf-8')
  if environ.get(KEY_FILE_ENV):
    path = environ[KEY_FILE_ENV]
    try:
      with open(path, 'rb') as f:
        found[f'the file {path} ({KEY_FILE_ENV})'] = _strip_newline(f.read())
    except OSError as e:
      raise PseudonymKeyError(f'{KEY_FILE_ENV} names {path}, which cannot be read: '
                              f'{e.strerror or e}') from e
  if not found:
    return None
  if len(set(found.values())) > 1:
    raise PseudonymKeyError(f'{KEY_ENV} and {KEY_FILE_ENV} are both set and hold different '
                            f'pseudonym keys; set only one. A wrong key would give every '
                            f'subject a different pseudonym.')
  source, key = next(iter(found.items()))
  if len(key) < MIN_KEY_BYTES:
    raise PseudonymKeyError(
        f'The pseudonym key from {source} is {len(key)} bytes; at least {MIN_KEY_BYTES} '
        f'are needed, so that nobody can guess it and reverse the pseudonyms. Make one '
        f'with: {MAKE_KEY}')
  return key


def ingest_key(manifest_path: str, environ: Mapping[str, str] = os.environ,
               announce: bool = True) -> bytes:
  """The key to pseudonymise ``manifest_path``'s ids with: the one set in the
  environment, else DEMO_KEY for the sample data (and, with ``announce``, a line saying
  so); else PseudonymKeyError, before any media is decoded."""
  key = read_key(environ)
  if key is not None:
    return key
  marker = manifest.sample_marker(manifest_path)
  if marker == 'mismatch':
    raise PseudonymKeyError(
        f'{manifest_path}: no pseudonym key is set, and the {manifest.SAMPLE_MARKER} beside '
        f'this manifest was written for another one (copied here, or the manifest was '
        f'edited since palsy-tfx sample-data wrote it). Only the unedited sample data runs '
        f'with the public demo key; set {KEY_ENV} or {KEY_FILE_ENV} (make a key with '
        f'`{MAKE_KEY}`).')
  if marker == 'valid':
    if announce:
        print(f'[ingest] no pseudonym key is set ({KEY_ENV} or {KEY_FILE_ENV}); '
            f'{manifest_path} is the synthetic sample data, so the public demo key is used',
            file=sys.stderr, flush=True)
    return DEMO_KEY
  raise PseudonymKeyError(
      f'{manifest_path}: no pseudonym key is set. Subject ids and media paths are '
      f'pseudonymised with a secret key, read from {KEY_ENV} (the key itself) or '
      f'{KEY_FILE_ENV} (a file holding it, such as a mounted Kubernetes Secret). Make a '
      f'key once with `{MAKE_KEY}`, keep it with the dataset (a new key gives every '
      f'subject a new pseudonym), and set one of them, e.g. `export {KEY_ENV}=<the key>`. '
      f'Only the sample data of palsy-tfx sample-data runs without one.')
