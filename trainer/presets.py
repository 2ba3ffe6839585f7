"""The FP-VGGFace paper's models (IEEE Access 2023, Table 3) as named presets.

Every field can be overridden from the command line; the presets only fix what the
paper reported so that a reproduction starts from the same place.
"""
import dataclasses
from typing import Any, Dict

# Training seed: a rerun on the same data on CPU reproduces the same model.
DEFAULT_SEED = 42
DEFAULT_PRESET = 'fp_vggface'
# The keys of the Trainer's custom_config: pipeline/options.py writes them and
# trainer/task.py reads them, both through these names.
CONFIG_PRESET = 'preset'
CONFIG_OVERRIDES = 'overrides'
CONFIG_SEED = 'seed'
CONFIG_IMAGE_SIZE = 'image_size'
CONFIG_WEIGHTS = 'weights'
# Mixed precision and XLA: one of SWITCHES each (trainer/placement.py says what auto
# picks). Here, not there, so the command line checks them without importing TensorFlow.
CONFIG_MIXED_PRECISION = 'mixed_precision'
CONFIG_JIT_COMPILE = 'jit_compile'
SWITCHES = ('auto', 'on', 'off')
DEFAULT_MIXED_PRECISION = 'auto'
DEFAULT_JIT_COMPILE = 'auto'
# The referral rule's settings (preprocessing.referral's defaults when absent): the share
# of a file's faces over the guard's threshold that refers it, the least faces per file,
# and the share of eval videos whose confidence falls under min_confidence.
CONFIG_REFER_MAX_OOD_SHARE = 'refer_max_ood_share'
CONFIG_REFER_MIN_FACES = 'refer_min_faces'
CONFIG_REFER_CONFIDENCE_QUANTILE = 'refer_confidence_quantile'
# With --tune, the Tuner's settings (trainer/search_space.py's ``settings``): the space it
# searches, the algorithm, trials and epochs per trial. The Tuner and the Trainer both
# get them; the Trainer records them beside the values it trained with.
CONFIG_TUNE = 'tune'
# plain: the backbone's pooled features. asymmetry: those and how a crop's feature maps
# differ from its mirror image's (trainer/asymmetry.py); it reads maps at several levels,
# which only dlib_resnet hands over.
HEADS = ('plain', 'asymmetry')


@dataclasses.dataclass(frozen=True)
class Preset:
  backbone: str            # vggface_{vgg16,resnet50,senet50} | vgg16 | resnet50 | dlib_resnet
                           # | small_cnn
  trainable_layers: int    # last N layers of the backbone that train; the head always trains
  optimizer: str           # adam | sgd
  learning_rate: float
  dropout: float
  normalisation: str       # see preprocessing.image_ops.NORMALISATIONS
  epochs: int = 25
  patience: int = 5        # early stopping on validation loss
  batch_size: int = 32
  head_units: int = 256
  head: str = 'plain'      # see HEADS

  def __post_init__(self):
    # Checked here, so a wrong --head fails when the command line is read, not after ingest.
    if self.head not in HEADS:
      raise ValueError(f'unknown head {self.head!r}; choose one of {", ".join(HEADS)}')
    if self.head == 'asymmetry' and self.backbone != 'dlib_resnet':
      raise ValueError(f"head 'asymmetry' reads dlib_resnet's level maps; backbone "
                       f"{self.backbone!r} has only the plain head")


PRESETS = {
    'fp_vggface': Preset('vggface_vgg16', 10, 'adam', 1e-3, 0.0, 'vggface'),
    'vgg16': Preset('vgg16', 8, 'adam', 1e-3, 0.6, 'imagenet'),
    'resnet50': Preset('resnet50', 150, 'sgd', 1e-4, 0.5, 'imagenet'),
    # Not from the paper: dlib's face-recognition ResNet (trainer/dlib_resnet.py), whose
    # CC0 weights install offline from the lock. Frozen, as a feature extractor: its
    # affine layers are frozen batch norm, and a few hundred faces would unsettle the rest
    # (--trainable-layers N fine-tunes the last N layers). Not tuned on clinical data.
    'dlib_resnet': Preset('dlib_resnet', 0, 'adam', 1e-3, 0.5, 'dlib'),
    # Not from the paper: a small CNN trained from scratch, so the demo and CI run the
    # whole pipeline offline in minutes on two CPU cores.
    # Per-image standardisation: the demo's synthetic subjects differ by a colour tint
    # that the from-scratch CNN otherwise memorises (docs/history.md, "Why the small CNN did not learn at first").
    # 80 epochs at 3e-4: under the paper's augmentation it still underfits at 40.
    'demo': Preset('small_cnn', 1000, 'adam', 3e-4, 0.3, 'standardize', epochs=80,
                   patience=30, batch_size=16, head_units=64),
}


def check_switch(flag: str, value: str) -> str:
  """``value`` if it is one of SWITCHES, else a ValueError naming ``flag``."""
  if value not in SWITCHES:
    raise ValueError(f'{flag} must be one of {", ".join(SWITCHES)}, got {value!r}')
  return value


def resolve(name: str, overrides: Dict[str, Any]) -> Preset:
  """The named preset with any non-None overrides applied."""
  if name not in PRESETS:
    raise ValueError(f'unknown model preset {name!r}; choose one of {", ".join(PRESETS)}')
  fields = {f.name for f in dataclasses.fields(Preset)}
  unknown = set(overrides) - fields
  if unknown:
    raise ValueError(f'unknown preset field(s): {", ".join(sorted(unknown))}')
  return dataclasses.replace(PRESETS[name],
                             **{k: v for k, v in overrides.items() if v is not None})
