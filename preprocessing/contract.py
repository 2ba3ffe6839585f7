"""The example contract and the serving contract: the features of every tf.Example that
VideoIngest writes, and the signatures and tensor keys of every exported SavedModel.

Ingest writes these keys, the Trainer and the serving signature read ``image`` (and the
Trainer ``label``), the Evaluator groups frames by ``video_id`` and ``subject_id`` and
slices by ``source``, and the evidence report reads them back. Each of those names the
key through a constant here, so a key is spelled once; ``tests/test_contract.py`` checks
``pipeline/schema/schema.pbtxt`` and ingest's ``make_example`` against ``FEATURES``.

The Trainer exports the signatures below (``trainer/export.py``); TFMA evaluates
``serving_default``, ``palsy-tfx predict`` and the TF Serving clients call
``serving_images`` and ``serving_explain``, and the evidence report reads
``serving_default`` again. All of them name a signature and a tensor through here.

The lowest floor of the package: it imports nothing of ours, so anything may import it.
"""
import hashlib
from typing import NamedTuple

IMAGE = 'image'                # JPEG of the face crop
LABEL = 'label'                # grade id 0-5 (preprocessing.labels.GRADES)
SUBJECT_ID = 'subject_id'      # pseudonym of the subject
VIDEO_ID = 'video_id'          # pseudonym of the media file
FRAME_INDEX = 'frame_index'    # frame number (0 for stills)
TIMESTAMP_MS = 'timestamp_ms'  # presentation time of the frame
SOURCE = 'source'              # the manifest's source (site), lower case
SIDE = 'side'                  # affected side, 'left', 'right' or empty
FACE_BOX = 'face_box'          # [ymin, xmin, ymax, xmax] relative to the frame
FACE_SCORE = 'face_score'      # detection score
CROP_PADDED = 'crop_padded'    # fraction of the crop outside the frame
# What the model saw (preprocessing.descriptors, the one function ingest and predict call):
# palsy-tfx monitor compares the training split's with the graded inputs'.
FACE_SIZE = 'face_size'        # sqrt(face box area / frame area), 0..1
BRIGHTNESS = 'brightness'      # mean grey level of the crop, 0..255
CONTRAST = 'contrast'          # RMS contrast: std / mean of the crop's grey levels, >= 0
SHARPNESS = 'sharpness'        # var(3x3 Laplacian) / var(grey levels) of the crop, >= 0

# Ingest's summary, written beside its examples (components/video_ingest/summary.py): under
# EXAMPLES_PER_CLASS, per split, the examples written per grade name. The Trainer reads its
# train split's counts from there (trainer/data.py) instead of reading the whole split.
INGEST_SUMMARY_FILE = 'ingest_summary.json'
EXAMPLES_PER_CLASS = 'examples_per_class'

# Value kinds, as tf.train.Feature's lists and the schema's FeatureType name them.
BYTES, INT, FLOAT = 'BYTES', 'INT', 'FLOAT'


class Feature(NamedTuple):
  """One feature: its key, value kind, values per example, and whether every example
  must carry it."""
  name: str
  kind: str
  size: int
  required: bool


FEATURES = (
    Feature(IMAGE, BYTES, 1, True),
    Feature(LABEL, INT, 1, True),
    Feature(SUBJECT_ID, BYTES, 1, True),
    Feature(VIDEO_ID, BYTES, 1, True),
    Feature(FRAME_INDEX, INT, 1, True),
    Feature(TIMESTAMP_MS, INT, 1, True),
    Feature(SOURCE, BYTES, 1, True),
    Feature(SIDE, BYTES, 1, True),
    Feature(FACE_BOX, FLOAT, 4, True),
    Feature(FACE_SCORE, FLOAT, 1, True),
    Feature(CROP_PADDED, FLOAT, 1, True),
    Feature(FACE_SIZE, FLOAT, 1, True),
    Feature(BRIGHTNESS, FLOAT, 1, True),
    Feature(CONTRAST, FLOAT, 1, True),
    Feature(SHARPNESS, FLOAT, 1, True),
)


def features_fingerprint() -> str:
  """A short digest of ``FEATURES``: VideoIngest's cache key carries it, so examples
  written under another contract (a feature added, say) are made again rather than
  read from the cache and refused by the schema."""
  text = ';'.join(f'{f.name}:{f.kind}:{f.size}:{int(f.required)}' for f in FEATURES)
  return hashlib.sha256(text.encode()).hexdigest()[:12]

# The serving contract.
SERVING_DEFAULT = 'serving_default'   # input INPUT_EXAMPLES: serialized tf.Examples
SERVING_IMAGES = 'serving_images'     # input INPUT_IMAGES: encoded JPEG/PNG face crops
SERVING_EXPLAIN = 'serving_explain'   # input INPUT_IMAGES; outputs OUTPUT_HEATMAPS as well
SIGNATURES = (SERVING_DEFAULT, SERVING_IMAGES, SERVING_EXPLAIN)
INPUT_EXAMPLES = 'examples'
INPUT_IMAGES = 'images'
OUTPUT_PROBABILITIES = 'probabilities'  # [n, 6] calibrated softmax(logits / T), a row per crop
OUTPUT_LOGITS = 'logits'                # [n, 6] the scores before the softmax, uncalibrated
OUTPUT_OOD_SCORE = 'ood_score'          # [n] float32 out-of-distribution score, larger is less
                                        # like the training crops; NaN: the model has no guard
OUTPUT_GRADE = 'grade'                  # [n] the argmax grade's name
# serving_default only, for the Evaluator: the model's referral thresholds
# (preprocessing.referral.Rules.as_row, in REFERRAL_RULE_FIELDS order), repeated per row.
OUTPUT_REFERRAL_RULES = 'referral_rules'  # [n, 4] float32
REFERRAL_RULE_FIELDS = ('ood_threshold', 'max_ood_share', 'min_confidence', 'min_faces')
OUTPUT_HEATMAPS = 'heatmaps'            # [n, size, size] Grad-CAM of the argmax grade, 0-1

# Every exported SavedModel carries TF Serving's warmup file: a TFRecord of PredictionLogs,
# one request per signature above, with WARMUP_CROPS real crops each (preprocessing/warmup.py).
# TF Serving replays it when it loads a version; the name and folder are TF Serving's own
# (WarmupConsts::kRequestsFileName under assets.extra). Beside it, the responses the
# Trainer computed for the same requests in its own process, which the ServingCheck
# (components/serving_check) compares with a fresh process's: a TFRecord of
# PredictResponses, record i answering request i.
WARMUP_FILE = 'assets.extra/tf_serving_warmup_requests'
WARMUP_RESPONSES_FILE = 'assets.extra/warmup_expected_responses'
WARMUP_CROPS = 4
# The input each signature takes, as the warmup requests fill it.
SIGNATURE_INPUTS = {SERVING_DEFAULT: INPUT_EXAMPLES, SERVING_IMAGES: INPUT_IMAGES,
                    SERVING_EXPLAIN: INPUT_IMAGES}
