"""The evidence report's headline: the few numbers a person asks for first.

Pure Python with no TensorFlow, so that ``palsy-tfx headline`` answers at once; the
executor writes ``headline.json`` with ``build``, and the command line and the run
summary read it back with ``read_headline`` and print it with ``format_headline``.
"""
import json
import os
from typing import Dict, List, Optional

from components.video_ingest.summary import FRAME_SPLIT_WARNING, by_frame

# The artifact type's name in MLMD; Kubeflow V2 wants custom types as 'namespace.Name'.
REPORT_TYPE = 'palsy.EvidenceReport'
REPORT_FILE = 'report.html'
HEADLINE_FILE = 'headline.json'
CONFUSION_PNG = 'confusion_matrices.png'
# The subject-level measures a clinician reads first, then the frame accuracy gate.
HEADLINE_METRICS = (('subject_balanced_accuracy', 'subject balanced accuracy'),
                    ('subject_exact_accuracy', 'subject exact accuracy'),
                    ('subject_within_one_accuracy', 'subject within one grade'),
                    ('sparse_categorical_accuracy', 'frame accuracy'))


def build(metrics: Dict[str, float], blessed: bool, failed_gates: List[str],
          ingest: Optional[dict], counts: Dict[str, int], pushed_to: Optional[str],
          recomputed_subject_confusion, agrees_with_evaluator: bool) -> dict:
  """The headline as JSON-ready data.

  ``metrics`` are the Evaluator's overall metrics; each headline measure keeps its
  ``_ci_low``/``_ci_high`` beside it where it has them. ``counts`` are the test
  split's subjects, videos and frames as the report's own predictions saw them, and
  ``recomputed_subject_confusion`` their subject confusion matrix, kept so that anyone
  can compare it with the Evaluator's. ``split_by`` comes from the ingest summary, so
  that a frame split's inflated numbers are never read without its warning.
  """
  headline_metrics = {}
  for name, _ in HEADLINE_METRICS:
    for key in (name, f'{name}_ci_low', f'{name}_ci_high'):
      if key in metrics:
        headline_metrics[key] = metrics[key]
  return {
      'blessed': bool(blessed),
      'failed_gates': list(failed_gates),
      'pushed_to': pushed_to,
      'split_by': 'frame' if by_frame(ingest) else 'subject',
      'metrics': headline_metrics,
      'test_counts': dict(counts),
      'examples_per_split': (ingest or {}).get('examples_per_split', {}),
      'failed_inputs': len((ingest or {}).get('failed_inputs', [])),
      'recomputed_subject_confusion': [[int(n) for n in row]
                                       for row in recomputed_subject_confusion],
      'agrees_with_evaluator': bool(agrees_with_evaluator),
  }


def _number(metrics: Dict[str, float], name: str) -> str:
  value = metrics.get(name)
  if value is None or value != value:  # absent or NaN
    return 'n/a'
  low, high = metrics.get(f'{name}_ci_low'), metrics.get(f'{name}_ci_high')
  if low is None or low != low:
    return f'{value:.3f}'
  return f'{value:.3f} [95% CI {low:.2f}, {high:.2f}]'


def format_headline(headline: dict) -> str:
  """A few lines for the terminal."""
  counts = headline['test_counts']
  lines = [f'  model {"BLESSED" if headline["blessed"] else "NOT blessed"}'
           + (f', pushed to {headline["pushed_to"]}' if headline.get('pushed_to') else '')]
  if headline.get('split_by') == 'frame':  # absent from headlines of earlier versions
    lines.insert(0, f'  {FRAME_SPLIT_WARNING}')
  lines.extend(f'  failed gate: {line}' for line in headline['failed_gates'])
  lines.append(f'  test split: {counts.get("subjects", 0)} subjects, '
               f'{counts.get("videos", 0)} videos and stills, {counts.get("frames", 0)} frames')
  for name, label in HEADLINE_METRICS:
    lines.append(f'  {label}: {_number(headline["metrics"], name)}')
  if headline['failed_inputs']:
    lines.append(f'  failed inputs at ingest: {headline["failed_inputs"]}')
  if not headline['agrees_with_evaluator']:
    lines.append('  WARNING: the report\'s own predictions do not reproduce the Evaluator\'s '
                 'subject confusion matrix; see the report')
  return '\n'.join(lines)


def read_headline(report_uri: str) -> dict:
  """headline.json of an EvidenceReport artifact on a local path."""
  with open(os.path.join(report_uri, HEADLINE_FILE)) as f:
    return json.load(f)
