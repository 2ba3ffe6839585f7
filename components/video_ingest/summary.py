"""Aggregate per-file ingest stats into ``ingest_summary.json``.

The summary is what an engineer reads first after a run: how much data went where,
and exactly which inputs were lost and why.
"""
import collections
import json
import os
from typing import Dict, Iterable, List, Optional

from components.video_ingest import splits
from preprocessing import contract
from preprocessing.labels import GRADES

SUMMARY_FILE = contract.INGEST_SUMMARY_FILE  # the Trainer reads it too
FRAME_SPLIT_WARNING = (
    'WARNING: split by FRAME. One subject\'s frames are in train and test alike, so '
    'every score measured on this test split is inflated by subject leakage. Use it '
    'only to show that (palsy-tfx leakage); never report or serve a model trained on it.')


def read_summary(examples_uri: str) -> Optional[dict]:
  """The ingest summary written beside an Examples artifact; None where there is none."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(examples_uri, SUMMARY_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def summarise(stats_json: Iterable[str], manifest_failures: List[Dict[str, str]],
              split_by: str = 'subject', sample_data: bool = False) -> dict:
  """Counts per split, class and source, media totals, and every failed input.

  ``subjects_per_class`` counts, per split and grade, the subjects that gave face
  crops: the evaluation can judge a grade only if test has one. Under the frame split
  a subject counts in every split its frames went to, and
  ``test_subjects_also_in_train`` counts the leak (0 by construction when split by
  subject). ``split_by`` is recorded, so every reader of the summary can tell a leaky
  ingest from a sound one. ``sample_data``: the manifest is the built-in synthetic demo
  data (``manifest.SAMPLE_MARKER``), which the model card must call not clinical.
  """
  per_split = collections.Counter()
  per_class = collections.defaultdict(collections.Counter)
  per_source = collections.Counter()
  subjects = collections.defaultdict(set)
  class_subjects = {k: collections.defaultdict(set) for k in splits.SPLIT_NAMES}
  totals = collections.Counter()
  failures = list(manifest_failures)
  started, finished = [], []
  for line in stats_json:
    s = json.loads(line)
    if s['started'] is not None:  # None: refused before decoding
      started.append(s['started'])
      finished.append(s['finished'])
    totals['videos_read' if s['kind'] == 'video' else 'images_read'] += 1
    totals['frames_sampled'] += s['sampled']
    totals['faces_found'] += s['faces']
    totals['frames_without_face'] += s['no_face']
    totals['full_resolution_passes'] += s['sure_passes']
    totals['padded_crops'] += s['padded_crops']
    for split, n in s['faces_per_split'].items():
      per_split[split] += n
      per_class[split][s['label']] += n
      if n:
        subjects[split].add(s['subject'])
        class_subjects[split][s['label']].add(s['subject'])
    per_source[s['source']] += s['faces']
    if s['failure']:
      failures.append({'row': s['row'], 'video': s['video'], 'reason': s['failure']})
  failures.sort(key=lambda f: f['row'])
  return {
      'split_by': split_by,
      'sample_data': bool(sample_data),
      'examples_per_split': {k: per_split.get(k, 0) for k in splits.SPLIT_NAMES},
      'subjects_per_split': {k: len(subjects.get(k, ())) for k in splits.SPLIT_NAMES},
      contract.EXAMPLES_PER_CLASS: {k: dict(sorted(v.items()))
                                    for k, v in sorted(per_class.items())},
      'subjects_per_class': {k: {label: len(v) for label, v in sorted(by_label.items())}
                             for k, by_label in class_subjects.items()},
      'test_subjects_also_in_train': len(subjects['test'] & subjects['train']),
      'examples_per_source': dict(sorted(per_source.items())),
      'videos_read': totals['videos_read'],
      'images_read': totals['images_read'],
      'frames_sampled': totals['frames_sampled'],
      'faces_found': totals['faces_found'],
      'frames_without_face': totals['frames_without_face'],
      'full_resolution_passes': totals['full_resolution_passes'],
      'padded_crops': totals['padded_crops'],
      # From the first item's start to the last item's end, on any worker: the media
      # work without the runner's start-up, so runs with different workers compare.
      'processing_seconds': round(max(finished) - min(started), 3) if started else 0.0,
      'failed_inputs': failures,
  }


def by_frame(summary: Optional[dict]) -> bool:
  """Whether a summary's examples were split by frame. No summary, or one of an earlier
  version (without ``split_by``), means split by subject."""
  return (summary or {}).get('split_by') == 'frame'


def describe_test_split(summary: Optional[dict]) -> str:
  """What the test split holds, for every heading over its scores (run summary, evidence
  report, confusion matrices): a frame split's scores are inflated, wherever shown."""
  if by_frame(summary):
    return 'split by FRAME, its subjects seen in training: inflated'
  return 'subjects never seen in training'


def format_summary(summary: dict) -> str:
  """A short human-readable report of a summary."""
  lines = ['Ingest summary']
  if by_frame(summary):
    lines.append(f'  {FRAME_SPLIT_WARNING}')
  lines += [f"  media read: {summary['videos_read']} videos, {summary['images_read']} stills",
            f"  frames sampled: {summary['frames_sampled']}, faces found: "
            f"{summary['faces_found']}, without a face: {summary['frames_without_face']}"]
  if 'full_resolution_passes' in summary:  # absent from summaries of earlier versions
    lines.append(f"  full-resolution detection passes: {summary['full_resolution_passes']}, "
                 f"crops padded at the frame edge: {summary['padded_crops']}, media "
                 f"processing {summary['processing_seconds']:.1f} s")
  # .get: the run summary also reads summaries written before subjects_per_class existed.
  subjects_per_class = summary.get('subjects_per_class', {})
  for split, n in summary['examples_per_split'].items():
    lines.append(f"  {split:5s}: {n:6d} examples from "
                 f"{summary['subjects_per_split'][split]} subjects "
                 f"{summary['examples_per_class'].get(split, {})}, subjects per class "
                 f"{subjects_per_class.get(split, {})}")
  if 'test_subjects_also_in_train' in summary:  # absent from earlier versions
    lines.append(f"  test subjects also in train: {summary['test_subjects_also_in_train']}")
  lines.append(f"  per source: {summary['examples_per_source']}")
  failed = summary['failed_inputs']
  lines.append(f'  failed inputs: {len(failed)}')
  lines.extend(f"    {describe_input(f)}: {f['reason']}" for f in failed)
  return '\n'.join(lines)


def describe_input(failure: dict) -> str:
  """A failed input as shared pages name it: its manifest row and video pseudonym
  (summaries of earlier versions named the path)."""
  if 'row' not in failure:
    return failure.get('path', '?')
  video = f" (video {failure['video']})" if failure.get('video') else ''
  return f"row {failure['row']}{video}"


SPLIT_HEADER = ['split', 'examples', 'subjects'] + list(GRADES)


def split_rows(ingest: dict) -> List[list]:
  """Per split (SPLIT_HEADER): examples, subjects, and per grade 'examples (subjects)'.
  The evidence report and the model card show these rows."""
  per_class = ingest['examples_per_class']
  subjects_per_class = ingest.get('subjects_per_class', {})
  return [[split, n, ingest['subjects_per_split'][split]]
          + [f'{per_class.get(split, {}).get(g, 0)} ({subjects_per_class.get(split, {}).get(g, 0)})'
             for g in GRADES] for split, n in ingest['examples_per_split'].items()]
