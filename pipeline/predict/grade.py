"""Grade a new patient: videos and stills in, a House-Brackmann grade per file out.

The client side of serving. Each file goes through ``preprocessing.face_frames``, the
sampling, face finding and cropping loop that ingest ran on the training data, with the
crop record the model carries (``crop_settings.from_model``), and the crops of one file
go to a ``pipeline.predict.base.Grader`` in one call. A file's grade is the argmax of the
mean of its frames' probabilities, ``clinical_metrics.aggregate``'s rule, by which the
Evaluator graded every test video. Each graded file also says how far to trust its
grade: its ``confidence``, its frames' ``ood_score`` and whether to ``refer`` it to a
clinician, and why (``preprocessing.referral``, with the thresholds the model carries). A
file that cannot be graded gets an ``error`` and the others are still graded.
"""
import dataclasses
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from components.evaluation import clinical_metrics
from pipeline.predict.base import Grader, Scores
from preprocessing import descriptors, face_frames, frames, referral
from preprocessing.crop_settings import CropRecord
from preprocessing.labels import GRADES, NUM_GRADES

# Crops per model call. A clinic video at 6 fps gives 60-360 frames, one call; the cap
# bounds the memory of a long recording (256 decoded 224 px crops: about 150 MB).
MAX_BATCH = 256


@dataclasses.dataclass
class FrameResult:
  timestamp_ms: int
  face_box: Optional[List[float]]        # [ymin, xmin, ymax, xmax] in 0..1; None: no face
  probabilities: Optional[List[float]]   # None: no face, or the file was not graded
  ood_score: Optional[float] = None      # None as well for a model without the guard
  # What the model saw (preprocessing.descriptors, as ingest records it in each example):
  # face_size, face_score, brightness, contrast, sharpness; None: no face.
  descriptors: Optional[Dict[str, float]] = None


@dataclasses.dataclass
class Prediction:
  """One input's result; ``as_json`` is the ``--output-json`` contract
  (docs/predict-and-serve.md)."""
  path: str
  grade: Optional[str] = None
  probabilities: Optional[List[float]] = None  # the mean over the frames with a face
  frames_sampled: int = 0
  faces_found: int = 0
  error: Optional[str] = None                  # None exactly when graded
  # How far to trust the grade (preprocessing.referral); None when not graded.
  trust: Optional[referral.Referral] = None
  frames: List[FrameResult] = dataclasses.field(default_factory=list)  # every sampled one
  # The JPEG crops of the frames with a face, in order, kept only when asked
  # (``keep_crops``: for ``predict --explain``); not in the JSON.
  crops: List[bytes] = dataclasses.field(default_factory=list, repr=False)

  @property
  def frames_without_face(self) -> int:
    return self.frames_sampled - self.faces_found

  def as_json(self) -> dict:
    trust = (self.trust.as_json() if self.trust else
             {f.name: None for f in dataclasses.fields(referral.Referral)})
    return {'path': self.path, 'grade': self.grade, 'probabilities': self.probabilities,
            **trust, 'frames_sampled': self.frames_sampled, 'faces_found': self.faces_found,
            'error': self.error, 'frames': [dataclasses.asdict(f) for f in self.frames]}


def sample(result: Prediction, record: CropRecord, source: Optional[str],
           on_frame: Optional[Callable[[Prediction], None]] = None,
           kind: Optional[str] = None, threaded: bool = True) -> List[bytes]:
  """Fill ``result.frames`` and its counts from the file; return the face crops.
  ``kind`` is ``frames.media_kind`` of a path that may be a URI (an archive's), else the
  local file's; ``threaded``: decode ahead in a thread (``frames.sample_video``), which a
  Beam worker does not, as in ingest. Raises ``frames.MediaError`` when no face is
  found."""
  kind = kind or frames.local_media_kind(result.path)
  jpegs = []
  for found in face_frames.face_frames(result.path, kind, record.fps(source), record.crop,
                                       threaded=threaded):
    result.frames.append(FrameResult(found.frame.timestamp_ms, found.relative_box(), None,
                                     descriptors=descriptors.of_frame(found)))
    result.frames_sampled += 1
    if found.crop is not None:
      jpegs.append(found.crop.jpeg)
      result.faces_found += 1
    if on_frame:
      on_frame(result)
  if not jpegs:
    raise frames.MediaError(face_frames.no_face_reason(kind, result.frames_sampled))
  return jpegs


def grade_crops(grader: Grader, jpegs: Sequence[bytes], max_batch: int = MAX_BATCH
                ) -> Scores:
  """The crops' scores: one grader call per ``max_batch`` crops. Checks the shapes, so
  that a grader answering for fewer crops cannot shift rows onto frames."""
  parts = [grader.scores(jpegs[i:i + max_batch]) for i in range(0, len(jpegs), max_batch)]
  probs = np.concatenate([part.probabilities for part in parts])
  if probs.shape != (len(jpegs), NUM_GRADES):
    raise ValueError(f'the grader answered {probs.shape} for {len(jpegs)} crops, not '
                     f'({len(jpegs)}, {NUM_GRADES})')
  if any(part.ood_scores is None for part in parts):
    return Scores(probs, None)
  ood = np.concatenate([part.ood_scores for part in parts])
  if ood.shape != (len(jpegs),):
    raise ValueError(f'the grader answered ood scores of shape {ood.shape} for '
                     f'{len(jpegs)} crops')
  return Scores(probs, ood)


def pool(probabilities: np.ndarray) -> np.ndarray:
  """A file's probabilities from its frames': the Evaluator's rule, reused as is."""
  n = len(probabilities)
  _, means, _ = clinical_metrics.aggregate([0] * n, [0] * n, probabilities)
  return means[0]


def predict_file(path: str, grader: Grader, record: CropRecord, source: Optional[str] = None,
                 on_frame: Optional[Callable[[Prediction], None]] = None,
                 max_batch: int = MAX_BATCH, keep_crops: bool = False,
                 rules: referral.Rules = referral.Rules()) -> Prediction:
  """Grade one video or still. ``source`` picks the video sampling rate from the model's
  record, as the manifest's source column did in ingest (unknown or None: the default
  rate). ``on_frame`` sees the result after every sampled frame, for progress.
  ``rules``: the model's referral thresholds (``referral.Rules.from_model``).
  ``keep_crops`` keeps a graded file's crops in ``crops`` (otherwise they are dropped
  with the file, so that a long list of videos does not pile up in memory)."""
  result = Prediction(path)
  try:
    jpegs = sample(result, record, source, on_frame)
    scores = grade_crops(grader, jpegs, max_batch)
  except frames.MediaError as e:
    result.error = str(e)
    return result
  except Exception as e:  # pylint: disable=broad-except
    # One broken file (or one failed request) must not stop the others being graded.
    result.error = f'{type(e).__name__}: {e}'
    return result
  graded(result, scores, rules)
  if keep_crops:
    result.crops = jpegs
  return result


def graded(result: Prediction, scores: Scores,
           rules: referral.Rules = referral.Rules()) -> Prediction:
  """``result`` (sampled: ``sample``) given its crops' scores, in crop order: each frame
  with a face gets its row, and the file its pooled grade and how far to trust it. The
  one rule of ``predict`` and of an archive graded on Beam (``archive``)."""
  with_face = [f for f in result.frames if f.face_box is not None]
  if len(with_face) != len(scores.probabilities):
    raise ValueError(f'{len(scores.probabilities)} scores for {len(with_face)} faces')
  ood = ([None] * len(with_face) if scores.ood_scores is None
         else scores.ood_scores.tolist())
  for frame, row, score in zip(with_face, scores.probabilities, ood):
    frame.probabilities, frame.ood_score = row.tolist(), score
  mean = pool(scores.probabilities)
  result.probabilities = mean.tolist()
  result.grade = GRADES[int(np.argmax(mean))]
  result.trust = referral.decide(mean, scores.ood_scores, result.faces_found,
                                 result.frames_sampled, rules)
  return result


def predict_files(paths: Sequence[str], grader: Grader, record: CropRecord,
                  source: Optional[str] = None, progress=None, keep_crops: bool = False,
                  rules: referral.Rules = referral.Rules()) -> List[Prediction]:
  """``predict_file`` on each path in turn. ``progress``, when given, has
  ``frame(index, prediction)`` and ``done(index, prediction)`` (``output.Progress``)."""
  results = []
  for i, path in enumerate(paths):
    on_frame = (lambda r, i=i: progress.frame(i, r)) if progress else None
    results.append(predict_file(path, grader, record, source, on_frame,
                                keep_crops=keep_crops, rules=rules))
    if progress:
      progress.done(i, results[-1])
  return results
