"""The monitor's page: one self-contained HTML file with, for each drifted descriptor, the
baseline's distribution and the graded inputs' side by side, and the inputs furthest off.

Built from the evidence report's blocks (``components.evidence_report.page`` for escaped
HTML and embedded PNGs, ``plots`` for matplotlib), so it opens offline and can be mailed.
Inputs are named by row and pseudonym (``graded``), never by path.
"""
import os
from typing import List

import numpy as np

from components.evidence_report import page as html
from components.evidence_report import plots
from pipeline.monitor import config as drift_config
from pipeline.monitor.baseline import Baseline
from pipeline.monitor.drift import FRAME, Comparison, FeatureDrift
from pipeline.monitor.graded import Graded
from preprocessing.labels import GRADES

TITLE = 'Drift of the graded inputs'
COMPARATORS = {drift_config.JSD: 'Jensen-Shannon divergence',
               drift_config.LINF: 'L-infinity distance'}
FURTHEST = 5  # inputs listed per drifted descriptor


def _shares(counts) -> np.ndarray:
  counts = np.asarray(counts, np.float64)
  return counts / counts.sum() if counts.sum() > 0 else counts


def distributions_png(drift: FeatureDrift, baseline_name: str, graded_name: str) -> bytes:
  """Two panels on one scale: the baseline's share of frames (or inputs) per bucket, and
  the graded inputs' in the same buckets."""
  plt = plots.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True, sharey=True)
  unit = 'frames' if drift.level == FRAME else 'inputs'
  for ax, shown, name, colour in ((axes[0], drift.baseline, baseline_name, '#4c72b0'),
                                  (axes[1], drift.graded, graded_name, '#dd8452')):
    shares = _shares(shown['counts'])
    if 'edges' in shown:
      edges = np.asarray(shown['edges'])
      ax.bar(edges[:-1], shares, np.diff(edges), align='edge', color=colour,
             edgecolor='white')
    else:
      order = [g for g in GRADES if g in set(drift.baseline['values'] + drift.graded['values'])]
      by_value = dict(zip(shown['values'], shares))
      ax.bar(range(len(order)), [by_value.get(v, 0.0) for v in order], color=colour)
      ax.set_xticks(range(len(order)), order, rotation=30, ha='right')
    ax.set_title(f'{name} ({int(sum(shown["counts"]) + 0.5)} {unit})')
    ax.set_xlabel(drift.name)
  axes[0].set_ylabel(f'share of {unit}')
  fig.suptitle(f'{drift.name}: {COMPARATORS[drift.comparator]} {drift.value:.3f} '
               f'(threshold {drift.threshold:g})')
  return plots.figure_png(fig)


def furthest_rows(drift: FeatureDrift, graded: Graded) -> List[list]:
  """The inputs whose median of the descriptor is furthest from the baseline's median."""
  rows = []
  for graded_input in graded.inputs:
    values = [frame[drift.name] for frame in graded_input.frames]
    if values:
      median = float(np.median(values))
      rows.append((abs(median - drift.baseline_median), graded_input, median, len(values)))
  rows.sort(key=lambda r: -r[0])
  return [[g.row, g.pseudonym, n, f'{median:.4g}', f'{drift.baseline_median:.4g}']
          for _, g, median, n in rows[:FURTHEST]]


def _feature_section(drift: FeatureDrift, baseline: Baseline, graded: Graded) -> str:
  baseline_name = 'training split' if baseline.statistics is not None else 'earlier grading'
  body = [html.image(distributions_png(drift, baseline_name, 'graded'),
                     f'{drift.name}: the baseline and the graded distributions'),
          html.paragraph(f'TFDV: {drift.description}', 'note')]
  if drift.level == FRAME and drift.baseline_median is not None:
    body += [html.paragraph(f'The graded inputs whose median {drift.name} is furthest from '
                            "the baseline's median:"),
             html.table(['row', 'pseudonym', 'frames with a face', f'median {drift.name}',
                         'baseline median'], furthest_rows(drift, graded))]
  return html.section(f'feature-{drift.name}', f'{drift.name} (per {drift.level})', *body)


def render(comparison: Comparison, baseline: Baseline, graded: Graded) -> str:
  drifted = comparison.drifted
  verdict = (f'DRIFT in {len(drifted)} of {len(comparison.features)} descriptors: '
             f'{", ".join(d.name for d in drifted)}' if drifted else
             f'No drift in any of the {len(comparison.features)} descriptors compared')
  css = 'verdict-bad' if drifted else 'verdict-good'
  pseudonyms = ('Inputs are named by row and by their pseudonym under the pseudonym key.'
                if graded.stable_pseudonyms else
                'Inputs are named by row and a pseudonym under a random key of this run (no '
                'pseudonym key was set), so a pseudonym holds for this page only.')
  summary = [
      f'<p class="{css}">{html.escape(verdict)}</p>',
      html.bullet_list([
          f'baseline: {baseline.described}',
          f'graded: {len(graded.inputs)} inputs, {graded.frames} frames with a face'
          + (f'; {graded.not_graded} inputs not graded, left out' if graded.not_graded else ''),
          f'files read: {", ".join(_name(f) for f in graded.files)}']),
      html.table(['descriptor', 'per', 'comparator', 'measure', 'threshold', 'drift'],
                 [[d.name, d.level, COMPARATORS[d.comparator], f'{d.value:.4f}',
                   f'{d.threshold:g}', 'DRIFT' if d.drifted else 'no']
                  for d in comparison.features],
                 [d.drifted for d in comparison.features])]
  if comparison.not_compared:
    summary.append(html.paragraph('Not compared:'))
    summary.append(html.bullet_list(f'{k}: {v}' for k, v in comparison.not_compared.items()))
  summary.append(html.paragraph(pseudonyms, 'note'))
  return html.document(TITLE, html.section('summary', 'Summary', *summary),
                       *[_feature_section(d, baseline, graded) for d in drifted])


def _name(path: str) -> str:
  """A graded output file by its name only: its folder may name a clinic or a patient."""
  return os.path.basename(path)
