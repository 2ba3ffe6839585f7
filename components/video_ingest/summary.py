"""Aggregate per-file ingest stats into ``ingest_summary.json``.

The summary is what an engineer reads first after a run: how much data went where,
and exactly which inputs were lost and why.
"""
import collections
import json
from typing import Dict, Iterable, List

from components.video_ingest import splits

SUMMARY_FILE = 'ingest_summary.json'


def summarise(stats_json: Iterable[str], manifest_failures: List[Dict[str, str]]) -> dict:
  """Counts per split, class and source, media totals, and every failed input.

  ``subjects_per_class`` counts, per split and grade, the subjects that gave face
  crops: the evaluation can judge a grade only if test has one.
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
    started.append(s['started'])
    finished.append(s['finished'])
    totals['videos_read' if s['kind'] == 'video' else 'images_read'] += 1
    totals['frames_sampled'] += s['sampled']
    totals['faces_found'] += s['faces']
    totals['frames_without_face'] += s['no_face']
    totals['full_resolution_passes'] += s['sure_passes']
    totals['padded_crops'] += s['padded_crops']
    per_split[s['split']] += s['faces']
    per_class[s['split']][s['label']] += s['faces']
    per_source[s['source']] += s['faces']
    if s['faces']:
      subjects[s['split']].add(s['subject'])
      class_subjects[s['split']][s['label']].add(s['subject'])
    if s['failure']:
      failures.append({'path': s['path'], 'reason': s['failure']})
  failures.sort(key=lambda f: f['path'])
  return {
      'examples_per_split': {k: per_split.get(k, 0) for k in splits.SPLIT_NAMES},
      'subjects_per_split': {k: len(subjects.get(k, ())) for k in splits.SPLIT_NAMES},
      'examples_per_class': {k: dict(sorted(v.items())) for k, v in sorted(per_class.items())},
      'subjects_per_class': {k: {label: len(v) for label, v in sorted(by_label.items())}
                             for k, by_label in class_subjects.items()},
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


def format_summary(summary: dict) -> str:
  """A short human-readable report of a summary."""
  lines = ['Ingest summary',
           f"  media read: {summary['videos_read']} videos, {summary['images_read']} stills",
           f"  frames sampled: {summary['frames_sampled']}, faces found: "
           f"{summary['faces_found']}, without a face: {summary['frames_without_face']}"]
  if 'full_resolution_passes' in summary:  # absent from summaries of earlier versions
    lines.append(f"  full-resolution detection passes: {summary['full_resolution_passes']}, "
                 f"crops padded at the frame edge: {summary['padded_crops']}, media "
                 f"processing {summary['processing_seconds']:.1f} s")
  # .get: run reports also read summaries written before subjects_per_class existed.
  subjects_per_class = summary.get('subjects_per_class', {})
  for split, n in summary['examples_per_split'].items():
    lines.append(f"  {split:5s}: {n:6d} examples from "
                 f"{summary['subjects_per_split'][split]} subjects "
                 f"{summary['examples_per_class'].get(split, {})}, subjects per class "
                 f"{subjects_per_class.get(split, {})}")
  lines.append(f"  per source: {summary['examples_per_source']}")
  failed = summary['failed_inputs']
  lines.append(f'  failed inputs: {len(failed)}')
  lines.extend(f"    {f['path']}: {f['reason']}" for f in failed)
  return '\n'.join(lines)
