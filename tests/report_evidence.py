"""Hand-made evidence for the report's tests: frames whose per-video and per-subject
grades are worked out by hand, metrics, and a complete ``sections.Evidence``."""
import numpy as np

from components.evaluation import gates, referral_metrics
from components.evidence_report import predictions, reliability, sections
from preprocessing import referral
from preprocessing.labels import NUM_GRADES


def probs(*rows):
  """Six-grade probability rows from their leading entries (the rest is spread evenly)."""
  out = []
  for row in rows:
    rest = (1 - sum(row)) / (NUM_GRADES - len(row))
    out.append(list(row) + [rest] * (NUM_GRADES - len(row)))
  return np.array(out)


# Subject a: video v1 (true grade 0) has two frames leaning to grade 0 a little and one
# sure of grade 1: mean [0.4, 0.467, ...] -> grade 1, though a majority vote says 0.
# Video v2 (true 0) has one frame, grade 0. Subject b: video v3 (true 2), grade 2.
FRAMES = predictions.Frames(
    labels=np.array([0, 0, 0, 0, 2]),
    subjects=['a', 'a', 'a', 'a', 'b'],
    videos=['v1', 'v1', 'v1', 'v2', 'v3'],
    sources=['meei', 'meei', 'meei', 'stills', 'yfp'],
    probabilities=probs((0.5, 0.3), (0.5, 0.3), (0.2, 0.8), (0.9, 0.02), (0.1, 0.1, 0.7)))


METRICS = {'subject_balanced_accuracy': 0.5, 'subject_balanced_accuracy_ci_low': 0.25,
           'subject_balanced_accuracy_ci_high': 0.75, 'subject_exact_accuracy': 0.5,
           'sparse_categorical_accuracy': 0.625, 'frame_recall[normal]': 1.0,
           # Top 0.5, 0.5 right (bin 5), 0.8 wrong, 0.9 right, 0.7 right:
           # (|2 - 1.0| + |0 - 0.8| + |1 - 0.9| + |1 - 0.7|) / 5 = 0.44.
           'frame_ece': 0.44}


def evidence(**changes) -> sections.Evidence:
  """A blessed, pushed model's evidence whose report predictions agree with the
  Evaluator; ``changes`` replace fields."""
  subject = predictions.subject_confusion(FRAMES)
  result = sections.Evidence(
      blessed=True, pushed_to='/serving/palsy/7', failures=[],
      gates=[gates.Gate('sparse_categorical_accuracy', 'overall', '>= 0.6', '0.700',
                        gates.PASSED)],
      ingest={'examples_per_split': {'train': 9, 'eval': 2, 'test': 5},
              'subjects_per_split': {'train': 3, 'eval': 1, 'test': 2},
              'examples_per_class': {'test': {'normal': 4, 'mild': 1}},
              'subjects_per_class': {'test': {'normal': 1, 'mild': 1}},
              'examples_per_source': {'meei': 3, 'stills': 1, 'yfp': 1},
              'videos_read': 2, 'images_read': 1, 'frames_sampled': 6, 'faces_found': 5,
              'frames_without_face': 1,
              'failed_inputs': [{'row': 7, 'video': 'bad <1>', 'reason': 'no face'}]},
      statistics={'test': [['label', 'INT', '1', '0', 'min 0, mean 0.4, max 2']]},
      examples={'test': 5}, facets='<p>facets</p>', training_curves=b'not drawn',
      confusion=b'not drawn', matrices={'subject': subject}, recomputed_subject=subject,
      roc=b'not drawn', aucs={'normal': 1.0},
      calibration=reliability.curves(FRAMES, num_resamples=200), reliability=b'not drawn',
      temperature=None,
      # No guard: nobody is referred (both subjects have a face in every frame).
      referral=referral_metrics.summarise(
          *referral_metrics.subject_referrals(FRAMES.subjects, FRAMES.labels,
                                              FRAMES.probabilities, None, referral.Rules()),
          num_resamples=200),
      referral_rules=referral.Rules(), risk_coverage=b'not drawn', metrics=METRICS,
      videos=predictions.per_video(FRAMES), counts=predictions.counts(FRAMES), split='test',
      provenance={'model': '/root/Trainer/model/3'})
  return result._replace(**changes)
