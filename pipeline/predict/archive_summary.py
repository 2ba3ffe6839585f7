"""What an archive grading adds up to: counts, the inputs not graded, and, where the
manifest gives labels, the subject-level metrics with their CIs, as the Evaluator
computes them.

A pure core behind ``archive``'s Beam ``CombineGlobally``: ``add`` folds one graded
input's compact record (``record``: no path, no image, pseudonyms only) into a
JSON-able tally, ``merge`` joins the tallies of many workers, and ``summarise`` turns
the one tally left into the summary. A subject's probabilities are the mean of all its
frames', the rule of ``clinical_metrics.aggregate`` by which the Evaluator pools a
subject: the tally keeps each (subject, label)'s sum of frame probabilities and its
frame count, so its size grows with the subjects, never with the frames. The summary
names inputs by manifest row and pseudonym, never by path: it is meant to be shared.
"""
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from components.evaluation import clinical_metrics, patient_metrics
from preprocessing.labels import GRADES, HOUSE_BRACKMANN, NUM_GRADES

# The subject-level measures the summary prints, in this order (all are in the JSON).
PRINTED = ('exact_accuracy', 'within_one_accuracy', 'balanced_accuracy', 'mae',
           'quadratic_weighted_kappa', 'ece')


def record(row: int, video: str, subject: Optional[str], label: Optional[int],
           prediction) -> dict:
  """One input's compact record from its ``grade.Prediction``. ``reason`` is the error
  with the input's path replaced by its row, since the summary is meant to be shared."""
  graded = prediction.error is None
  face_rows = [f.probabilities for f in prediction.frames if f.probabilities is not None]
  return {
      'row': row, 'video': video, 'subject': subject, 'label': label,
      'grade': GRADES.index(prediction.grade) if graded else None,
      'probabilities': prediction.probabilities,
      'frame_sum': np.sum(face_rows, axis=0).tolist() if face_rows else None,
      'faces': prediction.faces_found, 'sampled': prediction.frames_sampled,
      'refer_reasons': list(prediction.trust.refer_reasons) if graded else [],
      'reason': (None if graded else
                 prediction.error.replace(prediction.path, f'<row {row}>')),
  }


def empty() -> dict:
  return {'inputs': 0, 'graded': 0, 'referred': 0, 'frames_sampled': 0, 'faces_found': 0,
          'grades': {}, 'refer_reasons': {}, 'not_graded': [], 'videos': [],
          'subjects': {}}


def _count(counts: Dict[str, int], key: str, n: int = 1) -> None:
  counts[key] = counts.get(key, 0) + n


def add(tally: dict, rec: dict) -> dict:
  """``tally`` with one input's ``record`` folded in (in place)."""
  tally['inputs'] += 1
  tally['frames_sampled'] += rec['sampled']
  tally['faces_found'] += rec['faces']
  if rec['grade'] is None:
    tally['not_graded'].append({'row': rec['row'], 'video': rec['video'],
                                'reason': rec['reason']})
    return tally
  tally['graded'] += 1
  _count(tally['grades'], GRADES[rec['grade']])
  tally['referred'] += bool(rec['refer_reasons'])
  for reason in rec['refer_reasons']:
    _count(tally['refer_reasons'], reason)
  if rec['label'] is not None:
    tally['videos'].append([rec['label']] + rec['probabilities'])
    if rec['subject']:
      key = f'{rec["subject"]}|{rec["label"]}'
      sums = tally['subjects'].setdefault(key, [0.0] * (NUM_GRADES + 1))
      for i, value in enumerate(rec['frame_sum'] + [rec['faces']]):
        sums[i] += value
  return tally


def merge(tallies: Iterable[dict]) -> dict:
  out = empty()
  for tally in tallies:
    for key in ('inputs', 'graded', 'referred', 'frames_sampled', 'faces_found'):
      out[key] += tally[key]
    for key in ('grades', 'refer_reasons'):
      for name, n in tally[key].items():
        _count(out[key], name, n)
    out['not_graded'].extend(tally['not_graded'])
    out['videos'].extend(tally['videos'])
    for key, sums in tally['subjects'].items():
      into = out['subjects'].setdefault(key, [0.0] * (NUM_GRADES + 1))
      for i, value in enumerate(sums):
        into[i] += value
  return out


def subject_rows(tally: dict):
  """(pseudonyms, labels, pooled probabilities) of the labelled subjects, sorted by
  pseudonym then label as ``clinical_metrics.aggregate`` sorts its groups."""
  keys = sorted(tally['subjects'], key=lambda k: (k.rsplit('|', 1)[0], int(k.rsplit('|', 1)[1])))
  sums = np.asarray([tally['subjects'][k] for k in keys], np.float64).reshape(-1, NUM_GRADES + 1)
  return ([k.rsplit('|', 1)[0] for k in keys], np.asarray([int(k.rsplit('|', 1)[1]) for k in keys]),
          sums[:, :NUM_GRADES] / sums[:, NUM_GRADES:])


def _points(summary: dict) -> dict:
  """The point values of ``clinical_metrics.summarise``, as the Evaluator reports the
  video level: an interval over videos, many of one person, would be falsely narrow."""
  return {k: (v['value'] if isinstance(v, dict) else v) for k, v in summary.items()}


def summarise(tally: dict, manifest_rows: int, refused: Sequence[dict],
              stable_pseudonyms: bool) -> dict:
  """The summary of one grading: ``tally`` from the workers, ``refused`` the rows the
  driver's checks turned away (``pseudonyms.failed_input``'s form)."""
  names, labels, pooled = subject_rows(tally)
  subjects = None
  if len(names):
    subjects = clinical_metrics.summarise(labels, pooled,
                                          num_resamples=patient_metrics.NUM_RESAMPLES)
  videos = np.asarray(tally['videos'], np.float64).reshape(-1, NUM_GRADES + 1)
  return {
      'manifest_rows': manifest_rows,
      'graded': tally['graded'],
      'not_graded': len(refused) + len(tally['not_graded']),
      'referred': tally['referred'],
      'refer_reasons': dict(sorted(tally['refer_reasons'].items())),
      'grades': {g: tally['grades'].get(g, 0) for g in GRADES},
      'frames_sampled': tally['frames_sampled'], 'faces_found': tally['faces_found'],
      'not_graded_rows': sorted(list(refused) + tally['not_graded'], key=lambda r: r['row']),
      'labelled_videos': len(videos), 'labelled_subjects': len(names),
      'subject_metrics': subjects,
      'video_metrics': (_points(clinical_metrics.summarise(
          videos[:, 0].astype(int), videos[:, 1:], num_resamples=1)) if len(videos) else None),
      'subjects': [{'subject': name, 'label': GRADES[label],
                    'grade': GRADES[int(np.argmax(row))], 'confidence': float(np.max(row))}
                   for name, label, row in zip(names, labels, pooled)],
      'stable_pseudonyms': stable_pseudonyms,
  }


def _measure(name: str, cell: dict) -> str:
  return f'{name.replace("_", " ")} {cell["value"]:.3f} [{cell["ci_low"]:.2f}, {cell["ci_high"]:.2f}]'


def format_lines(summary: dict) -> List[str]:
  """The summary for a person: counts, what was not graded and why, the grades given, and
  the subject-level metrics with their 95% CIs when the manifest had labels."""
  lines = [f'[grade-archive] {summary["manifest_rows"]} manifest rows: {summary["graded"]} '
           f'graded, {summary["not_graded"]} not graded, {summary["referred"]} of the graded '
           'to refer to a clinician'
           + (f' ({", ".join(f"{r}: {n}" for r, n in summary["refer_reasons"].items())})'
              if summary['refer_reasons'] else '')]
  lines.append('  grades: ' + ', '.join(f'{numeral} {g} {summary["grades"][g]}'
                                        for numeral, g in zip(HOUSE_BRACKMANN, GRADES)))
  for row in summary['not_graded_rows']:
    lines.append(f'  not graded: row {row["row"]} (video {row["video"]}): {row["reason"]}')
  metrics = summary['subject_metrics']
  if metrics:
    lines.append(f'  subject level, {summary["labelled_subjects"]} labelled subjects (95% '
                 'bootstrap CIs over subjects): '
                 + '; '.join(_measure(m, metrics[m]) for m in PRINTED))
  else:
    lines.append('  no subject-level metrics: the manifest has no rows with both a label '
                 'and a subject_id')
  if not summary['stable_pseudonyms']:
    lines.append('  pseudonyms hold for this run only: no pseudonym key is set '
                 '(PALSY_PSEUDONYM_KEY or PALSY_PSEUDONYM_KEY_FILE)')
  return lines
