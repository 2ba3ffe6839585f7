"""``palsy-tfx monitor``'s one function: read the baseline, the graded inputs and the drift
config, compare, and write the page and the measurements.

What the deployed model sees should look like what it learned from. ``monitor`` puts
TFDV, which checked the training data before training, to work after deployment as well:
the descriptors of every graded frame (``preprocessing.descriptors``) against those of
the training split, measured with TFDV's drift comparators.
"""
import dataclasses
import json
import os
from typing import List, Optional

from pipeline.monitor import baseline as baselines
from pipeline.monitor import config as drift_config
from pipeline.monitor import drift, graded as graded_inputs, page

PAGE_FILE = 'drift.html'
RESULT_FILE = 'drift.json'
OUTPUT_FOLDER = 'monitor'  # default: beside the graded files


@dataclasses.dataclass
class Outcome:
  comparison: drift.Comparison
  lines: List[str]   # what the command prints: the anomalies by feature
  page: str          # the written page's path
  result: str        # the written measurements' path


def default_output(graded_path: str) -> str:
  folder = graded_path if os.path.isdir(graded_path) else os.path.dirname(graded_path)
  return os.path.join(folder or '.', OUTPUT_FOLDER)


def format_lines(comparison: drift.Comparison, baseline, graded) -> List[str]:
  lines = [f'[monitor] baseline: {baseline.described}',
           f'[monitor] graded: {len(graded.inputs)} inputs, {graded.frames} frames with a face'
           + (f' ({graded.not_graded} inputs not graded, left out)' if graded.not_graded else ''),
           f'{"descriptor":15s} {"per":6s} {"comparator":26s} {"measure":>8s} '
           f'{"threshold":>9s}  drift']
  for d in comparison.features:
    lines.append(f'{d.name:15s} {d.level:6s} {page.COMPARATORS[d.comparator]:26s} '
                 f'{d.value:8.4f} {d.threshold:9g}  {"DRIFT" if d.drifted else "no"}')
  for name, why in comparison.not_compared.items():
    lines.append(f'{name:15s} not compared: {why}')
  drifted = comparison.drifted
  if drifted:
    lines.append(f'DRIFT in {len(drifted)} descriptor{"s" if len(drifted) > 1 else ""}:')
    lines.extend(f'  {d.name}: {d.description}' for d in drifted)
  else:
    lines.append(f'no drift in the {len(comparison.features)} descriptors compared')
  return lines


def _result(comparison: drift.Comparison, baseline, graded) -> dict:
  return {'drift': bool(comparison.drifted), 'baseline': baseline.described,
          'graded_inputs': len(graded.inputs), 'graded_frames': graded.frames,
          'not_graded': graded.not_graded,
          'features': [{'name': d.name, 'per': d.level, 'comparator': d.comparator,
                        'value': d.value, 'threshold': d.threshold, 'drift': d.drifted,
                        'description': d.description} for d in comparison.features],
          'not_compared': comparison.not_compared}


def run(baseline_path: str, graded_path: str, config_path: Optional[str] = None,
        output: Optional[str] = None) -> Outcome:
  """Compare and write ``drift.html`` and ``drift.json`` into ``output`` (default:
  ``monitor/`` beside the graded files); ``config_path`` None: ``config.DEFAULT_FILE``.
  Bad input raises ``ValueError`` naming the file:
  ``config.DriftConfigError`` or ``graded.GradedInputError``."""
  config = drift_config.read(config_path or drift_config.DEFAULT_FILE)
  graded = graded_inputs.read(graded_path)
  baseline = baselines.read(baseline_path)
  comparison = drift.compare(baseline, graded, config)
  output = output or default_output(graded_path)
  os.makedirs(output, exist_ok=True)
  page_path, result_path = os.path.join(output, PAGE_FILE), os.path.join(output, RESULT_FILE)
  with open(page_path, 'w', encoding='utf-8') as f:
    f.write(page.render(comparison, baseline, graded))
  with open(result_path, 'w') as f:
    json.dump(_result(comparison, baseline, graded), f, indent=2)
  return Outcome(comparison, format_lines(comparison, baseline, graded), page_path, result_path)
