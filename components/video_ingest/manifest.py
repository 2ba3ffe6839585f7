"""Read and check the ingest manifest before any media is touched.

A malformed manifest (missing columns, a row with the wrong number of fields) stops
the run at once: a silent misparse would mislabel patients. A well-formed row that is
wrong on its own (unknown label, missing file, duplicate, ...) becomes a reported
failure, and every good row beside it is still ingested.
"""
import csv
import dataclasses
import hashlib
import hmac
import io
import json
import posixpath
from typing import Dict, List, Optional, Sequence, Tuple

from preprocessing import frames, storage
from preprocessing.labels import UnknownLabelError, grade_id

# Written beside the demo data's manifest: the folder holds synthetic faces, not patients.
# Ingest records it (ingest_summary.json), so a model trained on them says so in its card,
# and only such data may go without a pseudonym key (pseudonyms.ingest_key). The marker
# holds a keyed digest of the manifest it was written with (``sample_digest``), so a
# marker copied beside another manifest, or a sample manifest edited to name other
# files, is not sample data. The digest's key is public: it guards against accidents,
# the marker's point, not against someone forging a marker for real patients' data.
SAMPLE_MARKER = 'SAMPLE_DATA.txt'
_SAMPLE_DIGEST_KEY = b'palsy-tfx sample-data marker'
_DIGEST_LINE = 'manifest-digest: '
REQUIRED_COLUMNS = ('path', 'subject_id', 'label', 'source')
OPTIONAL_COLUMNS = ('side',)
SIDES = ('left', 'right', '')


class ManifestError(ValueError):
  """The manifest as a whole cannot be trusted; nothing is ingested."""


@dataclasses.dataclass(frozen=True)
class Item:
  """One manifest row that passed every check and is ready to ingest."""
  row: int
  path: str          # the media file: the manifest's folder (a path or URI) joined with rel_path
  rel_path: str      # as written in the manifest, relative to its folder (feeds video_id)
  subject_id: str    # raw id: used only for splitting and pseudonymising ('': none given)
  grade: Optional[int]  # None only in an archive to grade, for a row without a label
  source: str
  side: str
  kind: str          # 'video' or 'image'
  size: int = 0      # bytes, from the listing: checked against the media limits


@dataclasses.dataclass(frozen=True)
class Failure:
  """A refused row. ``path`` is for this machine's console only: the summary and the
  report name the row and the video's pseudonym (``pseudonyms.failed_input``)."""
  path: str
  reason: str
  row: int = 0
  rel_path: str = ''  # as written in the manifest: its pseudonym names the video


def safe_join(base: str, rel: str) -> Optional[str]:
  """Join ``rel`` under the folder ``base`` (a local path or a URI such as
  ``s3://bucket/cohort``), or None when it would escape ``base``."""
  if not rel or rel.startswith(('/', '\\')) or '://' in rel or (len(rel) > 1 and rel[1] == ':'):
    return None
  norm = posixpath.normpath(rel.replace('\\', '/'))
  if norm == '..' or norm.startswith('../'):
    return None
  return storage.join(base, norm)


def _read_manifest(manifest_path: str) -> bytes:
  if not storage.exists(manifest_path):
    raise ManifestError(f'{manifest_path}: manifest not found')
  return storage.read_bytes(manifest_path)


def read_rows(manifest_path: str, required: Sequence[str] = REQUIRED_COLUMNS
              ) -> List[Dict[str, str]]:
  """Parse the CSV; raise ManifestError for missing columns or ragged rows. ``required``:
  the columns that must be there (an archive to grade needs only ``path``)."""
  return _parse_rows(manifest_path, _read_manifest(manifest_path), required)


def _parse_rows(manifest_path: str, data: bytes, required: Sequence[str] = REQUIRED_COLUMNS
                ) -> List[Dict[str, str]]:
  reader = csv.reader(io.StringIO(data.decode('utf-8')))
  header = [h.strip().lower() for h in next(reader, [])]
  missing = [c for c in required if c not in header]
  if missing:
    optional = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c not in required]
    raise ManifestError(f'{manifest_path}: missing required column(s) {", ".join(missing)}; '
                        f'expected {",".join(required)}'
                        + ''.join(f'[,{c}]' for c in optional))
  rows = []
  for line_no, fields in enumerate(reader, start=2):
    if not any(f.strip() for f in fields):
      continue  # blank line
    if len(fields) != len(header):
      raise ManifestError(f'{manifest_path}: row {line_no} is malformed: '
                          f'{len(fields)} fields for {len(header)} columns')
    row = {k: v.strip() for k, v in zip(header, fields)}
    row['_row'] = str(line_no)
    rows.append(row)
  return rows


@dataclasses.dataclass(frozen=True)
class Scan:
  """The manifest's bytes, its parsed rows, and the metadata of every media file it
  names (None: not there), from one read of the manifest and one listing of its
  folder (``storage.stats_under``): what the fingerprint and the row checks need."""
  data: bytes
  rows: List[Dict[str, str]]
  stats: Dict[str, Optional[storage.Stat]]


def scan(manifest_path: str, required: Sequence[str] = REQUIRED_COLUMNS) -> Scan:
  """Read and parse the manifest, and list the metadata of its media in one pass.

  Costs one read of the manifest and, in a bucket, one listing request per thousand
  objects under its folder: never one request per row.
  """
  data = _read_manifest(manifest_path)
  rows = _parse_rows(manifest_path, data, required)
  base = storage.dirname(manifest_path)
  paths = {p for p in (safe_join(base, row['path']) for row in rows) if p}
  return Scan(data, rows, storage.stats_under(base, sorted(paths)))


def check_rows(manifest_path: str, rows: List[Dict[str, str]],
               numeric_labels: Optional[str] = None,
               stats: Optional[Dict[str, Optional[storage.Stat]]] = None,
               required: Sequence[str] = REQUIRED_COLUMNS
               ) -> Tuple[List[Item], List[Failure]]:
  """Turn parsed rows into items to ingest and failures to report.

  ``numeric_labels`` is the declared scale of bare numbers in ``label``
  (labels.NUMERIC_SCALES); undeclared, such a row fails and names itself.
  ``stats`` is ``scan(manifest_path).stats``; without it each file is statted.
  ``required``: as ``read_rows``'s. An archive to grade (only ``path`` required) may
  leave ``subject_id`` and ``label`` empty: such an item has ``subject_id`` '' and
  ``grade`` None. A label that is given must still be a known one.
  """
  base = storage.dirname(manifest_path)
  items, failures, seen = [], [], {}
  for row in rows:
    n = row['_row']
    rel = row['path']
    def fail(reason, path=None):
      failures.append(Failure(path or rel or f'<row {n}>', f'row {n}: {reason}', int(n), rel))
    path = safe_join(base, rel)
    if path is None:
      fail('refused: path escapes the manifest folder' if rel else 'empty path')
      continue
    if not row.get('subject_id') and 'subject_id' in required:
      fail('empty subject_id', path)
      continue
    grade = None  # an archive's row without a label: graded, not scored
    if row.get('label') or 'label' in required:
      try:
        grade = grade_id(row['label'], numeric_labels)
      except UnknownLabelError as e:
        fail(str(e), path)
        continue
    side = row.get('side', '').lower()
    if side not in SIDES:
      fail(f'side must be left or right, got {row.get("side")!r}', path)
      continue
    if path in seen:
      fail(f'duplicate of row {seen[path]}', path)
      continue
    seen[path] = n
    try:
      kind = frames.media_kind(path)
    except frames.MediaError as e:
      fail(str(e), path)
      continue
    try:
      st = stats[path] if stats is not None else storage.stat(path)
    except Exception as e:  # pylint: disable=broad-except
      # No permission, no network: this row is reported, the others still ingest.
      fail(f'cannot read: {type(e).__name__}: {e}', path)
      continue
    if st is None:
      fail('file not found', path)
      continue
    if st.size == 0:
      fail('zero-byte file', path)
      continue
    items.append(Item(int(n), path, rel, row.get('subject_id', ''), grade,
                      row.get('source', '').lower(), side, kind, st.size))
  return items, failures


def sample_digest(manifest_data: bytes) -> str:
  """The marker's keyed digest of the manifest's bytes."""
  return hmac.new(_SAMPLE_DIGEST_KEY, manifest_data, hashlib.sha256).hexdigest()


def sample_marker_text(manifest_data: bytes, description: str) -> str:
  """The marker ``palsy-tfx sample-data`` writes beside the manifest it wrote."""
  return f'{description}\n{_DIGEST_LINE}{sample_digest(manifest_data)}\n'


def sample_marker(manifest_path: str, manifest_data: Optional[bytes] = None) -> str:
  """'absent', 'valid' (the marker holds this manifest's digest) or 'mismatch' (a
  marker of another manifest: copied, or the manifest edited since). ``manifest_data``:
  the manifest's bytes where the caller has read them already."""
  marker = storage.join(storage.dirname(manifest_path), SAMPLE_MARKER)
  if not storage.exists(marker):
    return 'absent'
  text = storage.read_bytes(marker).decode('utf-8', 'replace')
  digests = [line[len(_DIGEST_LINE):].strip() for line in text.splitlines()
             if line.startswith(_DIGEST_LINE)]
  expected = sample_digest(manifest_data if manifest_data is not None
                           else _read_manifest(manifest_path))
  return 'valid' if any(hmac.compare_digest(d, expected) for d in digests) else 'mismatch'


def is_sample_data(manifest_path: str, manifest_data: Optional[bytes] = None) -> bool:
  """Whether the manifest is ``palsy-tfx sample-data``'s synthetic faces, as written."""
  return sample_marker(manifest_path, manifest_data) == 'valid'


def fingerprint(manifest_path: str) -> str:
  """Hash of the manifest and the size and mtime of every file it names, and whether
  it is the sample data.

  Passed to the component as an execution property, so TFX's cache serves a rerun
  of an unchanged dataset and recomputes as soon as a row or a file changes. It
  parses the manifest, so a malformed one fails here, before any work starts. Media
  are never read: their metadata comes from one listing of the manifest's folder
  (``scan``), the pass the row checks use too.
  """
  found = scan(manifest_path)
  h = hashlib.sha256()
  h.update(found.data)
  for path, st in sorted(found.stats.items()):
    if st:
      h.update(json.dumps([path, st.size, st.mtime_ns]).encode())
  if is_sample_data(manifest_path, found.data):
    h.update(SAMPLE_MARKER.encode())
  return h.hexdigest()


def grades_present(manifest_path: str, numeric_labels: Optional[str] = None) -> List[int]:
  """Grade ids that the manifest's rows name (unknown labels aside), reading bare
  numbers on the ``numeric_labels`` scale as ingest does.

  The Evaluator gets per-grade metrics and gates only for these: a cohort of four
  grades has no recall for the other two, and a gate on it could never pass.
  """
  grades = set()
  for row in read_rows(manifest_path):
    try:
      grades.add(grade_id(row['label'], numeric_labels))
    except UnknownLabelError:
      pass  # reported as a failed input by ingest
  return sorted(grades)
