"""The model card as Markdown, from plain data (no TFX, no files).

Why a small template and not TFX's model-card-toolkit: every release of it (the last is
2.0.0) requires ``jsonschema<4`` and ``tensorflow-model-analysis<0.42``, and the locked
stack has apache-beam 2.59.0 (``jsonschema>=4``) and TFX 1.16.0 (TFMA 0.47), so
``uv pip compile`` finds no solution with it. The card's tables are the rows the evidence
report and the run summary print (``pipeline.runners.summary``, ``evidence_report.sections``
and ``gates``), so the three never disagree.

It names no subject, not even by pseudonym, and no input path (a file name can name a
person): the data are counts.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from components.evaluation import gates as gates_lib
from components.evaluation import tables, tuning
from components.video_ingest.summary import SPLIT_HEADER, split_rows
from preprocessing import referral
from preprocessing.labels import GRADES

CARD_FILE = 'model_card.md'
TITLE = 'Model card'
DEMO_WARNING = (
    '**Demo data: this is not clinical data.** This model was trained and evaluated on '
    'the synthetic sample data of `palsy-tfx sample-data`: every "patient" is the '
    'public-domain astronaut photograph of scikit-image with a drawn one-sided droop. No '
    'number in this card says anything about real patients, and the model must not grade '
    'anyone.')
INTENDED_USE = (
    'Research and engineering: estimating a House-Brackmann grade (I normal to VI '
    'complete paralysis) of facial palsy from frontal face videos or stills of one person, '
    'as a second reader beside a clinician. It is not a medical device, has no regulatory '
    'clearance, and must not replace a clinician\'s examination or decide treatment. Its '
    'input is face crops made with the crop settings below, which `palsy-tfx predict` '
    'reads from this model; crops made otherwise are outside its intended use.')
LIMITATIONS = (
    'The test split holds only the subjects counted below; the 95% intervals (2,000 '
    'bootstrap resamples of subjects) show how little that is, and a perfect score on a '
    'few subjects gives a degenerate interval, not certainty.',
    'A grade with one test subject has a subject recall of 0/1 or 1/1.',
    'No subgroup (age, sex, skin tone, camera, site) was evaluated: the manifest records '
    'none of them.',
    'Only frontal faces that dlib finds were seen; profiles, occlusions (masks, hands, '
    'dressings), strong head turns and lighting unlike the training data were not tested.',
    'A video or subject is graded by the argmax of the mean of its frames\' probabilities; '
    'a video with few usable frames gets a noisier grade.',
    'The score is the model\'s alone: it has not been compared with clinicians\' grades '
    'of the same videos, nor with their disagreement among themselves.',
)


class Lineage(NamedTuple):
  """Where the card comes from in ML Metadata (MLMD)."""
  pipeline: Optional[str]
  run_id: Optional[str]              # the pipeline_run context's name
  execution_id: Optional[str]        # the ModelCardWriter's own execution
  artifacts: List[Sequence]          # (role, type, MLMD artifact id, URI)


class Facts(NamedTuple):
  """Everything the card states, gathered by the ModelCardWriter's executor."""
  model_name: str
  blessed: bool
  split: str                          # the split the Evaluator judged
  ingest: Optional[dict]              # ingest_summary.json
  metrics: Dict[str, float]           # the Evaluator's overall metrics, CIs beside them
  subject_matrix: Optional[np.ndarray]
  gates: List[gates_lib.Gate]
  model: dict                         # the model's palsy_model.json
  lineage: Lineage
  trials: Optional[List[dict]] = None  # the Tuner's (tuning.read_trials); None: no Tuner


def _cell(value) -> str:
  text = 'n/a' if value is None else str(value)
  return text.replace('|', '\\|').replace('\n', ' ')


def _number(value) -> Optional[str]:
  return None if value is None else f'{value:.4f}'


def table(header: Sequence, rows: Sequence[Sequence]) -> str:
  """A Markdown table; short rows are padded with empty cells."""
  width = len(header)
  lines = ['| ' + ' | '.join(map(_cell, header)) + ' |', '|' + '---|' * width]
  lines += ['| ' + ' | '.join(_cell(c) for c in list(row) + [''] * (width - len(row))) + ' |'
            for row in rows]
  return '\n'.join(lines)


def _section(title: str, *parts: str) -> str:
  return '\n\n'.join([f'## {title}', *parts])


def is_demo(facts: Facts) -> bool:
  return bool((facts.ingest or {}).get('sample_data'))


def laplace_clause(record: dict) -> str:
  """How ``T`` was chosen when every eval frame was right (``trainer.calibration``)."""
  if record.get('objective') != 'laplace':
    return ''
  n = record['eval_frames']
  return (f', every one graded right, so T matches their mean top probability to '
          f'Laplace\'s {n + 1}/{n + 2} = {record["laplace_target"]:.4f}')


def calibration(record: Optional[dict]) -> str:
  """The temperature and what it did to the eval NLL; a model exported before
  calibration, or whose eval split could not fit it, says so."""
  if not record:
    return 'none: the probabilities are the network\'s own softmax'
  if record.get('fitted') is False:
    return (f'not fitted ({record["reason"]}; {record["eval_frames"]} eval frames): T = 1, '
            'the probabilities are the network\'s own softmax, not calibrated')
  line = (f'temperature scaling on the eval split ({record["eval_frames"]} frames'
          f'{laplace_clause(record)}): T = {record["temperature"]:.4f}, eval NLL '
          f'{record["eval_nll_before"]:.4f} before, {record["eval_nll_after"]:.4f} after')
  if record.get('at_bound'):
    line += ' (T stopped at the upper bound of its search)'
  return line


def guard(record: Optional[dict]) -> str:
  """The out-of-distribution guard: how it scores, its threshold and what that means."""
  if not record:
    return ('none: exported without the guard, so no crop is referred as unlike the '
            'training crops')
  split = record['threshold_split']
  frames = record['eval_frames'] if split == 'eval' else record['train_frames']
  return (f'Mahalanobis distance of a crop\'s {record["feature_dim"]} pooled backbone '
          f'features to the nearest grade\'s mean over {record["train_frames"]} train '
          f'crops (one shared covariance, shrinkage {record["shrinkage"]:.3f}), served as '
          f'ood_score; threshold {record["threshold"]:.3f}, the '
          f'{record["percentile"]:g}th percentile of {frames} {split} crops\' scores: a '
          'crop over it is less like the training crops than '
          f'{record["percentile"]:g}% of the held-out ones'
          + ('' if split == 'eval' else ' (the eval split was empty, so the train crops '
                                        'set it, and it refers more than it should)'))


def referral_rule(record: Optional[dict]) -> str:
  """The thresholds of ``preprocessing.referral``'s rule that the model carries."""
  rules = referral.Rules.from_model({'referral': record})
  if not record:
    return (f'none recorded: exported before the rule, a file is referred only when it has '
            f'fewer than {rules.min_faces} frames with a face')
  reasons = []
  if rules.ood_threshold is not None:
    reasons.append(f'more than {rules.max_ood_share:.0%} of its face frames score over '
                   f'{rules.ood_threshold:.3f}')
  confidence = f'its confidence (top pooled probability) is under {rules.min_confidence:.3f}'
  if 'confidence_quantile' in record:
    confidence += (f' (the {record["confidence_quantile"]:.0%} quantile of '
                   f'{record["eval_videos"]} eval videos)')
  reasons += [confidence, f'it has fewer than {rules.min_faces} frames with a face']
  return 'refer a file to a clinician, not grade it, when ' + '; or '.join(reasons)


def details(facts: Facts) -> str:
  m, hp = facts.model, facts.model.get('hyper_parameters', {})
  rows = [
      ['name', facts.model_name],
      ['task', 'House-Brackmann grade of facial palsy, six grades: ' + ', '.join(GRADES)],
      ['preset', f'{m.get("preset")} (backbone {hp.get("backbone")}, head {m.get("head")})'],
      ['input', f'face crop, {m.get("image_size")} px square, normalisation '
                f'{m.get("normalisation")}'],
      ['output', 'softmax probability per grade, calibrated as the next row says; a '
                 'video\'s or subject\'s grade is the argmax of the mean of its frames\' '
                 'probabilities'],
      ['calibration', calibration(m.get('calibration'))],
      ['out-of-distribution guard', guard(m.get('ood'))],
      ['referral', referral_rule(m.get('referral'))],
      ['pretrained weights', m.get('weights')],
      ['epochs run', m.get('epochs_run')],
      ['best eval loss', _number(m.get('best_val_loss'))],
      ['trained on', m.get('device')],
      ['verdict', 'blessed: it met every gate below' if facts.blessed
                  else 'NOT blessed: it failed a gate below'],
  ]
  return _section('Model details', table(('', ''), rows))


def training_data(ingest: Optional[dict], train_per_grade: Optional[Sequence[int]]) -> str:
  if not ingest:
    return _section('Training data', 'No ingest summary was recorded with the examples.')
  parts = [
      f'{ingest["videos_read"]} videos and {ingest["images_read"]} stills read; '
      f'{ingest["frames_sampled"]} frames sampled, {ingest["faces_found"]} face crops; '
      f'failed inputs: {len(ingest["failed_inputs"])}. Split by '
      f'{ingest.get("split_by", "subject")}: test subjects also in train: '
      f'{ingest.get("test_subjects_also_in_train", 0)}.',
      'Face crops per split and grade, subjects in brackets:',
      table(SPLIT_HEADER, split_rows(ingest)),
      table(('source', 'face crops'), sorted(ingest['examples_per_source'].items()))]
  if train_per_grade is not None:
    parts.append('The Trainer read, per grade: ' + ', '.join(
        f'{g} {n}' for g, n in zip(GRADES, train_per_grade)) + '.')
  return _section('Training data', *parts)


def evaluation(facts: Facts) -> str:
  referral = tables.referral_line(facts.metrics)
  return _section(
      f'Evaluation on the {facts.split} split: subject level with 95% confidence intervals',
      tables.counts_line(facts.metrics),
      table(tables.LEVEL_HEADER, tables.level_rows(facts.metrics)),
      table(tables.GRADE_HEADER, tables.grade_rows(facts.metrics, facts.subject_matrix)),
      *([referral] if referral else []))


def gates(rows: List[gates_lib.Gate]) -> str:
  return _section('Gates', 'Every threshold the Evaluator applied, and its verdict:',
                  table(gates_lib.GATE_HEADER, [list(g) for g in rows]))


def hyper_parameters(model: dict) -> str:
  rows = sorted(model.get('hyper_parameters', {}).items())
  rows += [['image_size', model.get('image_size')], ['seed', model.get('seed')],
           ['train_steps', model.get('train_steps')]]
  return _section('Preset and hyper-parameters', f'Preset `{model.get("preset")}`:',
                  table(('parameter', 'value'), rows))


def search(model: dict, trials: Optional[List[dict]]) -> str:
  """How the values above were chosen: by the preset and the command line, or by the
  Tuner, with every trial it ran."""
  record = model.get('tuning')
  parts = [tuning.summary(record)]
  if record and trials:
    parts.append(table(*tuning.trial_rows(trials, record)))
  elif record:
    parts.append('The Tuner\'s trials were not handed to this card.')
  return _section('Hyper-parameter search', *parts)


def crop(settings: Optional[dict]) -> str:
  if not settings:
    return _section('Crop settings', 'The examples did not record how their faces were '
                    'cropped: prediction cannot repeat it. Re-run ingest.')
  rows = [[key, value] for key, value in settings['crop'].items()]
  rows += [[f'frames per second ({source})', fps]
           for source, fps in sorted(settings['source_fps'].items())]
  rows.append(['frames per second (other sources)', settings['default_fps']])
  return _section('Crop settings', 'How ingest cropped the faces the model learnt from; '
                  'prediction crops the same way (`assets.extra/palsy_model.json`).',
                  table(('setting', 'value'), rows))


def provenance(lineage: Lineage) -> str:
  return _section(
      'Provenance (ML Metadata)',
      table(('', ''), [['pipeline', lineage.pipeline], ['pipeline run', lineage.run_id],
                       ['model card execution', lineage.execution_id]]),
      table(('artifact', 'type', 'MLMD id', 'URI'), lineage.artifacts))


def render(facts: Facts) -> str:
  """The whole card. Sample data gets the not-clinical warning at the top and again
  among the limitations."""
  limitations = list(LIMITATIONS)
  if is_demo(facts):
    limitations.insert(0, DEMO_WARNING)
  parts = [f'# {TITLE}: {facts.model_name}']
  if is_demo(facts):
    parts.append('> ' + DEMO_WARNING)
  parts += [details(facts), _section('Intended use', INTENDED_USE),
            _section('Limitations', '\n'.join(f'* {line}' for line in limitations)),
            training_data(facts.ingest, facts.model.get('train_examples_per_grade')),
            evaluation(facts), gates(facts.gates), hyper_parameters(facts.model),
            search(facts.model, facts.trials), crop(facts.model.get('crop_settings')),
            provenance(facts.lineage)]
  return '\n\n'.join(parts) + '\n'
