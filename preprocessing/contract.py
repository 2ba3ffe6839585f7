"""The example contract: the features of every tf.Example that VideoIngest writes.

Ingest writes these keys, the Trainer and the serving signature read ``image`` (and the
Trainer ``label``), the Evaluator groups frames by ``video_id`` and ``subject_id`` and
slices by ``source``, and the evidence report reads them back. Each of those names the
key through a constant here, so a key is spelled once; ``tests/test_contract.py`` checks
``pipeline/schema/schema.pbtxt`` and ingest's ``make_example`` against ``FEATURES``.

The lowest floor of the package: it imports nothing of ours, so anything may import it.
"""
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
)
