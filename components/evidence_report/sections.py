"""The sections of the evidence report, each from plain data (no TFX, no files).

The order follows what a reviewer asks: was the model accepted, on what data, how it
trained, how it grades (matrices, ROC, calibration, measures with intervals, every
video), and
which gates it met.
"""
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from components.evaluation import gates as gates_lib
from components.evaluation import tables, tuning
from components.evidence_report import page, reliability, trust
from components.evidence_report.headline import HEADLINE_METRICS
from components.evidence_report.statistics import FEATURE_HEADER
from components.video_ingest.summary import (FRAME_SPLIT_WARNING, SPLIT_HEADER, by_frame,
                                             describe_input, describe_test_split,
                                             split_rows)
from preprocessing import referral as referral_lib
from preprocessing.labels import GRADES

TITLE = 'palsy-tfx evidence report'


class Evidence(NamedTuple):
  """Everything the page shows, gathered by the executor."""
  blessed: bool
  pushed_to: Optional[str]
  failures: List[str]                    # components.evaluation.results.failed_thresholds
  gates: List[gates_lib.Gate]
  ingest: Optional[dict]                 # ingest_summary.json
  statistics: Dict[str, List[List[str]]]  # split -> statistics.feature_rows
  examples: Dict[str, int]               # split -> examples StatisticsGen counted
  facets: str                            # TFDV's HTML
  training_curves: Optional[bytes]       # PNG from the ModelRun
  confusion: bytes                       # PNG
  matrices: Dict[str, np.ndarray]        # the Evaluator's confusion matrices
  recomputed_subject: np.ndarray         # from the report's own predictions
  roc: bytes                             # PNG
  aucs: Dict[str, float]                 # grade -> exact frame-level AUC
  calibration: List[reliability.Curve]   # before (if the model has logits) and after
  reliability: bytes                     # PNG
  temperature: Optional[float]           # palsy_model.json's calibration.temperature
  referral: dict                         # referral_metrics.summarise of the test subjects
  referral_rules: referral_lib.Rules     # the model's (palsy_model.json's referral)
  risk_coverage: bytes                   # PNG
  metrics: Dict[str, float]              # the Evaluator's overall metrics
  videos: List[dict]                     # predictions.per_video
  counts: Dict[str, int]                 # predictions.counts
  split: str                             # the evaluated split
  provenance: Dict[str, str]             # artifact name -> URI
  tuning: Optional[dict] = None          # palsy_model.json's tuning; None: no search
  trials: Optional[List[dict]] = None    # the Tuner's (tuning.read_trials)


def cross_check(evaluator_subject: Optional[np.ndarray], recomputed: np.ndarray
                ) -> Optional[str]:
  """None when the report's predictions reproduce the Evaluator's subject confusion
  matrix, else a warning: the per-video table and ROC curves would then not show the
  model and data that were judged."""
  if evaluator_subject is None:
    return 'the Evaluator computed no subject confusion matrix to compare with'
  if np.array_equal(np.asarray(evaluator_subject), np.asarray(recomputed)):
    return None
  return ('the subject confusion matrix recomputed from this report\'s predictions '
          f'({np.asarray(recomputed).tolist()}) differs from the Evaluator\'s '
          f'({np.asarray(evaluator_subject).tolist()}); the per-video table and ROC '
          'curves may not show the model and data that were judged')


def summary(e: Evidence) -> str:
  verdict = ('<p class="verdict-good">Model BLESSED: it met every gate.</p>' if e.blessed
             else '<p class="verdict-bad">Model NOT blessed: it failed the gates listed '
                  'below.</p>')
  body = [verdict]
  if not e.blessed:
    body.append(page.bullet_list(e.failures))
  body.append(page.paragraph(f'Pushed for TF Serving to {e.pushed_to}.' if e.pushed_to
                             else 'Not pushed for serving.'))
  body.append(page.paragraph(
      f'Evaluated on the {e.split} split ({describe_test_split(e.ingest)}): '
      f'{e.counts["subjects"]} subjects, {e.counts["videos"]} videos and stills, '
      f'{e.counts["frames"]} frames.'))
  body.append(page.table(('measure', 'value [95% CI]'), [
      [label, tables.format_value(e.metrics, name, ci=True)]
      for name, label in HEADLINE_METRICS]))
  problem = cross_check(e.matrices.get('subject'), e.recomputed_subject)
  if problem:
    body.insert(0, page.warning(problem))
  if by_frame(e.ingest):  # first: every number below is inflated
    body.insert(0, page.warning(FRAME_SPLIT_WARNING.removeprefix('WARNING: ')))
  return page.section('summary', 'Summary', *body)


def data(ingest: Optional[dict]) -> str:
  """Examples and subjects per split, grade and source, and every failed input."""
  if not ingest:
    return page.section('data', 'Data', page.warning('no ingest_summary.json in the examples'))
  failed = ingest['failed_inputs']
  # Absent from summaries of earlier versions, which were split by subject.
  leaked = ingest.get('test_subjects_also_in_train', 0)
  return page.section(
      'data', 'Data',
      page.paragraph(f'{ingest["videos_read"]} videos and {ingest["images_read"]} stills read; '
                     f'{ingest["frames_sampled"]} frames sampled, {ingest["faces_found"]} '
                     f'faces found, {ingest["frames_without_face"]} frames without a face.'),
      page.paragraph(f'Split by {ingest.get("split_by", "subject")}; test subjects also in '
                     f'train: {leaked}.'),
      page.paragraph('Examples per split and grade, subjects in brackets:', 'note'),
      page.table(SPLIT_HEADER, split_rows(ingest)),
      page.table(('source', 'examples'), sorted(ingest['examples_per_source'].items())),
      f'<h3>Failed inputs: {len(failed)}</h3>',
      # By manifest row and video pseudonym: this page is shared, and a path often
      # carries a patient's name. The paths are on the console of the ingest's machine.
      page.table(('manifest row (video)', 'reason'),
                 [[describe_input(f), f['reason']] for f in failed])
      if failed else page.paragraph('Every input was ingested.'))


def statistics(e: Evidence) -> str:
  tables = []
  for split, rows in e.statistics.items():
    tables.append(f'<h3>{page.escape(split)}: {e.examples.get(split, 0)} examples</h3>')
    tables.append(page.table(FEATURE_HEADER, rows))
  return page.section(
      'statistics', 'Data statistics (TFDV)', *tables,
      '<h3>TFDV\'s statistics view (train against test)</h3>',
      page.paragraph('TFDV draws this view with Facets, which it loads from cdnjs.cloudflare.com '
                     'and raw.githubusercontent.com: without internet access (as on many '
                     'clinical networks) it stays empty, so it is folded away. The tables '
                     'above hold the same statistics and need no network.', 'note'),
      page.details('Open TFDV\'s interactive view (needs internet)',
                   page.iframe(e.facets, 'TFDV statistics')))


def training(curves: Optional[bytes]) -> str:
  body = (page.image(curves, 'training and eval loss and accuracy per epoch') if curves
          else page.warning('the Trainer\'s ModelRun holds no training_curves.png'))
  return page.section('training', 'Training curves', body)


def search(record: Optional[dict], trials: Optional[List[dict]]) -> str:
  """How the model's hyper-parameters were chosen, with every trial of the Tuner."""
  body = [page.paragraph(tuning.summary(record))]
  if record and trials:
    body.append(page.table(*tuning.trial_rows(trials, record)))
  elif record:
    body.append(page.warning('the Tuner\'s trials were not handed to this report'))
  return page.section('tuning', 'Hyper-parameter search', *body)


def confusion(e: Evidence) -> str:
  body = [page.image(e.confusion, 'frame and subject confusion matrices')]
  problem = cross_check(e.matrices.get('subject'), e.recomputed_subject)
  body.append(page.warning(problem) if problem else page.paragraph(
      'Cross-check: the subject confusion matrix recomputed from the model\'s predictions '
      'in this report equals the Evaluator\'s.', 'note'))
  return page.section('confusion', 'Confusion matrices (Evaluator)', *body)


def roc(e: Evidence) -> str:
  rows = [[grade, f'{e.aucs[grade]:.3f}' if grade in e.aucs else 'n/a (one class only)',
           tables.format_value(e.metrics, f'auc[{grade}]')] for grade in GRADES]
  return page.section(
      'roc', 'ROC curves per grade (frames, one grade against the rest)',
      page.image(e.roc, 'ROC curve per grade'),
      page.table(('grade', 'AUC, exact (this report)', 'AUC, TFMA (interpolated)'), rows))


def measures(metrics: Dict[str, float], subject_matrix: Optional[np.ndarray]) -> str:
  return page.section(
      'metrics', 'Measures with 95% confidence intervals',
      page.paragraph(tables.counts_line(metrics), 'note'),
      page.table(tables.LEVEL_HEADER, tables.level_rows(metrics)),
      page.table(tables.GRADE_HEADER, tables.grade_rows(metrics, subject_matrix)))


def videos(rows: List[dict]) -> str:
  header = (['subject', 'video', 'source', 'frames', 'true grade', 'predicted grade']
            + [f'p({g})' for g in GRADES])
  cells = [[r['subject'], r['video'], r['source'], r['frames'], GRADES[r['true']],
            GRADES[r['predicted']]] + [f'{p:.3f}' for p in r['probabilities']]
           for r in rows]
  return page.section(
      'videos', 'Every video of the test split',
      page.paragraph('A video\'s grade is the argmax of the mean of its frames\' '
                     'probabilities; wrongly graded videos are shaded. Subjects are '
                     'pseudonyms.', 'note'),
      page.table(header, cells, [r['predicted'] != r['true'] for r in rows]))


def gates(rows: List[gates_lib.Gate], failures: List[str]) -> str:
  body = [page.table(gates_lib.GATE_HEADER, [list(g) for g in rows],
                     [g.verdict == gates_lib.FAILED for g in rows])]
  if failures:
    body += ['<h3>Failed, as TFMA reported</h3>', page.bullet_list(failures)]
  else:
    body.append(page.paragraph('No gate failed.'))
  return page.section('gates', 'Gates', *body)


def provenance(uris: Dict[str, str]) -> str:
  return page.section('provenance', 'Where this comes from',
                      page.table(('artifact', 'URI'), sorted(uris.items())))


def report_page(e: Evidence) -> str:
  return page.document(
      TITLE, summary(e), data(e.ingest), statistics(e), training(e.training_curves),
      search(e.tuning, e.trials), confusion(e), roc(e),
      reliability.section(e.calibration, e.reliability, e.metrics, e.temperature),
      trust.section(e.referral, e.referral_rules, e.risk_coverage, e.metrics),
      measures(e.metrics, e.matrices.get('subject')),
      videos(e.videos), gates(e.gates, e.failures), provenance(e.provenance))
