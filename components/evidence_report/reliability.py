"""The report's calibration section: how often the model is right at each confidence,
frame by frame, before and after its calibration.

"After" is what the model serves (``probabilities``, softmax(logits / T) with the T the
Trainer fitted on the eval split); "before" is softmax(logits), the network's own
confidence, drawn only when the model exports its ``logits``. A model exported before
temperature scaling has none: its one panel is what it serves ("as served"), and the
section says so. The bins, counts and ECE are
``clinical_metrics``' own (top-label, 10 equal-width bins), the ones the Evaluator scores
and ``--max-ece`` gates; the intervals resample subjects with all their frames
(``clinical_metrics.clustered_calibration``). Pure: frames in, numbers and HTML out.
"""
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from components.evaluation import clinical_metrics, tables
from components.evidence_report import page
from components.evidence_report.predictions import Frames

ANCHOR = 'calibration'
BEFORE, AFTER = 'before calibration', 'after calibration'
SERVED = 'as served'  # the one panel of a model without logits: nothing says it was calibrated
MEASURE_HEADER = ('frames', 'ECE [95% CI]', 'Brier score [95% CI]', 'NLL [95% CI]')
NO_LOGITS = ('This model exports no logits output (it was exported before temperature '
             'scaling), so only the probabilities it serves are drawn: there is no '
             '"before".')
# The report's frame ECE and the Evaluator's score the same frames; beyond float32
# rounding they must agree.
AGREEMENT = 1e-6


class Curve(NamedTuple):
  """One panel of the diagram: a name, the frames' calibration sums and the frame-level
  ECE, Brier score and NLL with their intervals."""
  name: str
  sums: clinical_metrics.CalibrationSums
  summary: Dict[str, dict]  # clinical_metrics.clustered_calibration


def curves(frames: Frames, num_resamples: int = 2000) -> List[Curve]:
  """Before and after calibration when the frames carry logits, else the served
  probabilities alone."""
  if frames.logits is None:
    scored = [(SERVED, frames.probabilities)]
  else:
    scored = [(BEFORE, clinical_metrics.softmax(frames.logits)), (AFTER, frames.probabilities)]
  return [Curve(name, clinical_metrics.calibration_sums(frames.labels, probs),
                clinical_metrics.clustered_calibration(frames.subjects, frames.labels, probs,
                                                       num_resamples))
          for name, probs in scored]


def _flat(summary: Dict[str, dict]) -> Dict[str, float]:
  """``clustered_calibration``'s entries as the metrics dict ``tables.format_value``
  reads, so the intervals print as every other interval of the report."""
  out = {}
  for name, entry in summary.items():
    out.update({name: entry['value'], f'{name}_ci_low': entry['ci_low'],
                f'{name}_ci_high': entry['ci_high']})
  return out


def measure_rows(found: List[Curve]) -> List[List[str]]:
  rows = []
  for curve in found:
    flat = _flat(curve.summary)
    rows.append([curve.name, str(int(curve.sums.count.sum()))]
                + [tables.format_value(flat, name, ci=True)
                   for name in clinical_metrics.CALIBRATION_MEASURES])
  return rows


def bin_header(found: List[Curve]) -> List[str]:
  return ['confidence'] + [f'{column}, {curve.name}' for curve in found
                           for column in ('frames', 'accuracy', 'mean confidence')]


def bin_rows(found: List[Curve]) -> List[List[str]]:
  """One row per bin: its range, then per curve its count, accuracy and mean confidence
  (``clinical_metrics.reliability_bins``)."""
  drawn = [clinical_metrics.reliability_bins(curve.sums) for curve in found]
  rows = []
  for b in range(clinical_metrics.ECE_BINS):
    low, high = drawn[0]['low'][b], drawn[0]['high'][b]
    closing = ']' if b == clinical_metrics.ECE_BINS - 1 else ')'
    row = [f'[{low:.1f}, {high:.1f}{closing}']
    for bins in drawn:
      empty = bins['count'][b] == 0
      row += [str(int(bins['count'][b]))] + [
          'n/a' if empty else f'{bins[field][b]:.3f}' for field in ('accuracy', 'confidence')]
    rows.append(row)
  return rows


EVALUATOR_KEYS = {AFTER: 'frame_ece', SERVED: 'frame_ece', BEFORE: tables.UNCALIBRATED_ECE}


def agreement(found: List[Curve], metrics: Dict[str, float]) -> Optional[str]:
  """None when every curve's frame ECE recomputed here equals the Evaluator's (the
  served probabilities' ``frame_ece``; the "before" curve's ``frame_ece_uncalibrated``
  where the Evaluator measured it), else a warning (the diagram would not show what was
  judged)."""
  if metrics.get('frame_ece') is None:
    return 'the Evaluator computed no frame_ece to compare with'
  for curve in found:
    key = EVALUATOR_KEYS[curve.name]
    evaluator, mine = metrics.get(key), curve.summary['ece']['value']
    if evaluator is None or abs(evaluator - mine) <= AGREEMENT or (
        np.isnan(evaluator) and np.isnan(mine)):
      continue
    return (f'the {key} recomputed from this report\'s predictions ({mine:.6f}) differs '
            f'from the Evaluator\'s ({evaluator:.6f})')
  return None


def temperature_line(temperature: Optional[float]) -> str:
  if temperature is None:
    return 'The model records no calibration temperature.'
  return (f'"After" divides the logits by the temperature T = {temperature:.4g} that the '
          'Trainer fitted on the eval split before the softmax.')


def section(found: List[Curve], diagram_png: bytes, metrics: Dict[str, float],
            temperature: Optional[float]) -> str:
  body = [page.paragraph(
      'A frame\'s confidence is its top probability and it is right when that grade is '
      'the true one. The diagram puts the frames in 10 equal-width bins of confidence '
      '(top-label; 1.0 falls in the last bin) and draws each bin\'s accuracy against its '
      'mean confidence; the expected calibration error (ECE) is the mean gap, each bin '
      'weighted by its share of the frames. 95% intervals resample subjects with all '
      'their frames.', 'note')]
  if found[0].name != BEFORE:
    body.append(page.paragraph(NO_LOGITS))
  else:
    body.append(page.paragraph(temperature_line(temperature), 'note'))
  body += [page.image(diagram_png, 'reliability diagram, frames'),
           page.table(('',) + MEASURE_HEADER, measure_rows(found)),
           page.table(bin_header(found), bin_rows(found))]
  problem = agreement(found, metrics)
  body.append(page.warning(problem) if problem else page.paragraph(
      'Cross-check: the frame ECE of the served probabilities recomputed from this '
      'report\'s predictions equals the Evaluator\'s frame_ece.', 'note'))
  return page.section(ANCHOR, 'Calibration: reliability diagram (frames)', *body)
