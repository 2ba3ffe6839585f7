"""The leakage comparison: two runs of the same model on the same data, one split by
frame (as the paper's 99.3% was measured) and one by subject, side by side as a table,
a JSON file and a bar chart.

Only the split differs, so the difference between the columns is what leaking a
person's frames into the test split adds to a score. The outcomes come from
``pipeline.runners.summary.summarize``; everything else here is plain arithmetic on them.
"""
import dataclasses
import json
import math
import os
from typing import Dict, List, Mapping, Optional, Tuple

from pipeline.options import DataOptions, Gates, ModelOptions, RuntimeOptions
from pipeline.runners import local

SPLITS = ('frame_split', 'subject_split')
# (metric name in a run's outcome, level, measure), in table order.
MEASURES = (('frame_exact_accuracy', 'frame', 'exact accuracy'),
            ('frame_within_one_accuracy', 'frame', 'within one grade'),
            ('frame_balanced_accuracy', 'frame', 'balanced accuracy'),
            ('subject_exact_accuracy', 'subject', 'exact accuracy'),
            ('subject_within_one_accuracy', 'subject', 'within one grade'),
            ('subject_balanced_accuracy', 'subject', 'balanced accuracy'))
# Every floor at 0: both runs are evaluated and compared whatever the gates would say.
NO_GATES = Gates(min_accuracy=0.0, min_class_recall=(0.0,), min_subject_balanced_accuracy=0.0,
                 min_subject_within_one=0.0, min_subject_class_recall=(0.0,))


def _number(metrics: Mapping[str, float], name: str) -> Optional[float]:
  """The metric, or None when absent or NaN (JSON has no NaN)."""
  value = metrics.get(name)
  return None if value is None or math.isnan(value) else float(value)


def compare(outcomes: Mapping[str, dict]) -> dict:
  """The comparison from the two runs' outcomes, keyed by SPLITS.

  Each row holds both columns' value and 95% CI (None where the level has none) and the
  difference, frame split minus subject split: the inflation that leakage buys.
  """
  metrics = {split: outcomes[split].get('metrics', {}) for split in SPLITS}
  rows = []
  for name, level, measure in MEASURES:
    row = {'metric': name, 'level': level, 'measure': measure}
    for split in SPLITS:
      row[split] = {'value': _number(metrics[split], name),
                    'ci_low': _number(metrics[split], f'{name}_ci_low'),
                    'ci_high': _number(metrics[split], f'{name}_ci_high')}
    values = [row[split]['value'] for split in SPLITS]
    row['difference'] = None if None in values else values[0] - values[1]
    rows.append(row)
  ingest = {split: outcomes[split].get('ingest', {}) for split in SPLITS}
  counts = {
      'test frames': {s: int(metrics[s].get('frame_count', 0)) for s in SPLITS},
      'test subjects': {s: int(metrics[s].get('subject_count', 0)) for s in SPLITS},
      'test subjects also in train': {
          s: ingest[s].get('test_subjects_also_in_train') for s in SPLITS}}
  return {'rows': rows, 'counts': counts}


def _cell(cell: Dict[str, Optional[float]]) -> str:
  if cell['value'] is None:
    return 'n/a'
  text = f'{cell["value"]:.3f}'
  if cell['ci_low'] is not None:
    text += f' [{cell["ci_low"]:.2f}, {cell["ci_high"]:.2f}]'
  return text


def format_table(comparison: dict) -> str:
  """The side-by-side table, with what the subject level means under each split."""
  lines = [f'  {"":28s} {"frame split":>20s} {"subject split":>20s} {"difference":>11s}']
  for label, by_split in comparison['counts'].items():
    cells = ['n/a' if by_split[s] is None else str(by_split[s]) for s in SPLITS]
    lines.append(f'  {label:28s} {cells[0]:>20s} {cells[1]:>20s}')
  for row in comparison['rows']:
    difference = 'n/a' if row['difference'] is None else f'{row["difference"]:+.3f}'
    lines.append(f'  {row["level"] + " " + row["measure"]:28s} '
                 f'{_cell(row["frame_split"]):>20s} {_cell(row["subject_split"]):>20s} '
                 f'{difference:>11s}')
  lines += [
      '  [95% CI]: 2,000 bootstrap resamples of test subjects; difference: frame split minus',
      '  subject split. Frame split: each frame drawn into train, eval or test on its own, so',
      "  a person's frames sit in train and test alike (how the paper measured 99.3%).",
      '  Subject split: no test subject was seen in training. So the subject level is not the',
      '  same test under the two: under the frame split the test subjects are mostly people',
      '  the model trained on (test subjects also in train), more of them, each graded from',
      '  a few of their frames.']
  return '\n'.join(lines)


def bars(comparison: dict) -> Dict[str, dict]:
  """Per split, what the plot draws for each row: the bar height (0 for n/a), and the
  error bar's reach below and above it (None where the level has no CI)."""
  out = {}
  for split in SPLITS:
    cells = [row[split] for row in comparison['rows']]
    heights = [c['value'] if c['value'] is not None else 0.0 for c in cells]
    out[split] = {
        'heights': heights,
        'below': [h - c['ci_low'] if c['ci_low'] is not None else None
                  for h, c in zip(heights, cells)],
        'above': [c['ci_high'] - h if c['ci_high'] is not None else None
                  for h, c in zip(heights, cells)],
        'labels': ['n/a' if c['value'] is None else f'{c["value"]:.2f}' for c in cells]}
  return out


def plot(comparison: dict, path: str) -> None:
  """Grouped bars per measure, frame split beside subject split, with the subject-level
  95% CIs as error bars."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = comparison['rows']
  width = 0.38
  fig, ax = plt.subplots(figsize=(11, 5))
  for k, (split, colour) in enumerate(zip(SPLITS, ('tab:red', 'tab:blue'))):
    drawn = bars(comparison)[split]
    xs = [i + (k - 0.5) * width for i in range(len(rows))]
    ax.bar(xs, drawn['heights'], width, color=colour, label=split.replace('_', ' '))
    with_ci = [i for i, below in enumerate(drawn['below']) if below is not None]
    ax.errorbar([xs[i] for i in with_ci], [drawn['heights'][i] for i in with_ci],
                yerr=[[drawn['below'][i] for i in with_ci], [drawn['above'][i] for i in with_ci]],
                fmt='none', ecolor='black', capsize=4)
    for x, height, label in zip(xs, drawn['heights'], drawn['labels']):
      ax.text(x, max(height / 2, 0.03), label, ha='center', va='center',
              color='white' if height > 0.06 else 'black', fontsize=8)
  ax.set_xticks(range(len(rows)), [f'{r["level"]}\n{r["measure"]}' for r in rows])
  ax.set_ylim(0, 1.2)
  ax.set_ylabel('on the test split')
  counts = comparison['counts']
  ax.set_title('Same model, same data: split by frame (leaky) vs by subject\n'
               f'test frames {counts["test frames"]["frame_split"]} vs '
               f'{counts["test frames"]["subject_split"]}, test subjects '
               f'{counts["test subjects"]["frame_split"]} vs '
               f'{counts["test subjects"]["subject_split"]}; error bars: subject-level 95% CI')
  ax.legend(loc='upper right', ncol=2)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def write(comparison: dict, roots: Mapping[str, str], json_path: str, png_path: str
          ) -> List[str]:
  """Write the JSON (with where each run lives) and the plot; returns their paths."""
  with open(json_path, 'w') as f:
    json.dump({**comparison, 'runs': dict(roots)}, f, indent=2)
  plot(comparison, png_path)
  return [json_path, png_path]


def run_leakage(output: str, data: DataOptions, model: ModelOptions, runtime: RuntimeOptions
                ) -> Tuple[dict, List[str]]:
  """Train ``model`` on ``data`` twice, split by frame and by subject, each evaluated and
  never pushed (a frame split's model must not be served), under ``output``; write
  ``leakage.json`` and ``leakage.png`` there. Returns the comparison and those paths.
  A cohort that cannot be evaluated raises ``SplitError`` from the run that meets it."""
  output = os.path.abspath(output)
  roots, outcomes = {}, {}
  for split_by in ('frame', 'subject'):
    key = f'{split_by}_split'
    roots[key] = os.path.join(output, key)
    print(f'\n=== split by {split_by}: {roots[key]} ===', flush=True)
    outcomes[key] = local.run_and_summarize(
        roots[key], stop_after='evaluate', gates=NO_GATES, model=model, runtime=runtime,
        data=dataclasses.replace(data, split_by=split_by))
  comparison = compare(outcomes)
  paths = write(comparison, roots, os.path.join(output, 'leakage.json'),
                os.path.join(output, 'leakage.png'))
  return comparison, paths
