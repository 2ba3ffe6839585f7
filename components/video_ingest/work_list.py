"""The pseudonymised work list: what each Beam worker needs to know of a manifest row.

The executor writes it to sharded JSON-lines files under the Examples artifact, and
the pipeline reads them (``ReadFromText``). Putting the rows into the job graph instead
(``beam.Create``) makes the graph grow with the cohort: Dataflow refuses graphs above
about 10 MB, which a 200k-row manifest passes. Read from files, the graph holds one
file pattern whatever the cohort.

A row carries its media path (workers must read it), its grade, and the pseudonyms its
examples carry: never the raw subject id, and never the pseudonym key. Its split is
decided here, from the whole cohort, because a stratified split depends on every
subject of a grade, which no single worker sees. The files live in the execution's own
artifact folder and are removed when ingest ends; a crashed execution keeps them there,
where only its own (failed) folder holds them.
"""
import dataclasses
import json
import math
import os
from typing import Iterable, List, Mapping, Optional, Sequence

import tensorflow as tf

from components.video_ingest import pseudonyms
from components.video_ingest.manifest import Item

FOLDER = '_work'
SHARD_ROWS = 1000  # rows per file: a few hundred KB, read by one worker each


@dataclasses.dataclass(frozen=True)
class Work:
  """One manifest row to ingest, or one segment of a long video (``segment`` of
  ``segments``, timed ``[start_s, end_s)``; ``end_s`` None: to the end)."""
  row: int
  path: str
  kind: str               # 'video' or 'image'
  size: int               # bytes, from the listing
  subject: str            # pseudonym
  video: str              # pseudonym
  split: Optional[str]    # None under the frame split: each frame draws its own
  grade: int
  source: str
  side: str
  start_s: float = 0.0
  end_s: Optional[float] = None
  segment: int = 0
  segments: int = 1


def to_json(work: Work) -> str:
  return json.dumps(dataclasses.asdict(work), separators=(',', ':'))


def from_json(line: str) -> Work:
  return Work(**json.loads(line))


def plan(items: Iterable[Item], ids: Mapping[int, pseudonyms.Ids],
         split_of: Mapping[str, str]) -> List[Work]:
  """The work list of checked items: ``ids`` from ``pseudonyms.item_ids``, ``split_of``
  raw subject id -> split (empty under the frame split)."""
  return [Work(item.row, item.path, item.kind, item.size, ids[item.row].subject_id,
               ids[item.row].video_id, split_of.get(item.subject_id), item.grade,
               item.source, item.side) for item in items]


def write(examples_uri: str, works: Sequence[Work], shard_rows: int = SHARD_ROWS) -> str:
  """Write ``works`` in shards under the artifact; return the file pattern to read."""
  return write_shards(os.path.join(examples_uri, FOLDER), [to_json(w) for w in works],
                      shard_rows)


def write_shards(folder: str, lines: Sequence[str], shard_rows: int = SHARD_ROWS) -> str:
  """``lines`` (JSON, one per row) in files of ``shard_rows`` under ``folder`` (any
  filesystem ``tf.io.gfile`` reaches); return the file pattern for ``ReadFromText``."""
  tf.io.gfile.makedirs(folder)
  shards = max(1, math.ceil(len(lines) / shard_rows))
  for n in range(shards):
    with tf.io.gfile.GFile(os.path.join(folder, f'work-{n:05d}-of-{shards:05d}.jsonl'),
                           'w') as f:
      f.write(''.join(line + '\n' for line in lines[n * shard_rows:(n + 1) * shard_rows]))
  return os.path.join(folder, 'work-*.jsonl')


def remove(examples_uri: str) -> None:
  folder = os.path.join(examples_uri, FOLDER)
  if tf.io.gfile.exists(folder):
    tf.io.gfile.rmtree(folder)
