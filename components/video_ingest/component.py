"""The VideoIngest TFX component: spec, executor and component class.

Class-based, after tfx_addons/sampling, so it runs on any Beam runner the pipeline's
``beam_pipeline_args`` choose (DirectRunner multi-processing locally, Dataflow, Flink).
"""
import json
import os
import re
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.video_ingest import (extract, manifest, progress, pseudonyms, segments,
                                    splits, summary, work_list, workers)
from preprocessing import contract, crop_settings, labels, storage
from preprocessing.stops import RunStopped

EXAMPLES_KEY = 'examples'
# Whether a cohort that cannot fill the test split stops ingest ('stop', the default) or
# is a warning ('warn': a run that stops before the Evaluator, as --stop-after ingest).
# Read from the environment as the executor runs, not an execution property: those key
# TFX's cache, and an ingest-only look at the data and the full run after it must share
# one ingest rather than decode a cohort twice.
SPLIT_CHECK_ENV = 'PALSY_SPLIT_CHECK'


class VideoIngestSpec(types.ComponentSpec):
  PARAMETERS = {
      'manifest': ExecutionParameter(type=str),
      'input_fingerprint': ExecutionParameter(type=str),
      'source_fps': ExecutionParameter(type=str),        # JSON {source: fps}
      'default_fps': ExecutionParameter(type=float),
      'split_ratios': ExecutionParameter(type=str),      # JSON [train, eval, test]
      'image_size': ExecutionParameter(type=int),
      'margin': ExecutionParameter(type=float),
      'detect_width': ExecutionParameter(type=int),
      # Scale of bare numbers in the label column ('hb' or 'id'); it decides the grades,
      # so it is part of the cache key. Absent: such rows fail as ambiguous.
      'numeric_labels': ExecutionParameter(type=str, optional=True),
      # preprocessing.crop_settings.ALIGNMENTS; absent: 'none' (runs from before it existed).
      'alignment': ExecutionParameter(type=str, optional=True),
      # splits.SPLIT_BY; absent: 'subject'. 'frame' is the leaky split of the leakage
      # demonstration, never for a model that is reported or served.
      'split_by': ExecutionParameter(type=str, optional=True),
      # segments.MediaLimits as JSON; absent: its defaults. A file over a limit is a
      # failed input, so the limits key the cache.
      'media_limits': ExecutionParameter(type=str, optional=True),
      # Seconds per segment of a long video; absent: segments.DEFAULT_SEGMENT_S. A
      # segment restarts the face search, so it keys the cache too.
      'segment_seconds': ExecutionParameter(type=float, optional=True),
      # preprocessing.contract.features_fingerprint(): examples of another contract (from
      # before a feature was added) are made again, not read from the cache and then
      # refused by the schema. Absent: runs from before it existed.
      'example_contract': ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


def decode_ahead(beam_pipeline_args: Sequence[str]) -> bool:
  """True when Beam runs the DoFn in one local worker, which then has cores to spare
  for decoding ahead in a thread. With one worker per core, threads only contend.
  ``--number_of_worker_harness_threads=1`` asks for one thread per worker: no thread
  then decodes ahead either."""
  opts = dict(a.lstrip('-').split('=', 1) for a in beam_pipeline_args or [] if '=' in a)
  if opts.get('number_of_worker_harness_threads') == '1':
    return False
  if opts.get('runner', 'DirectRunner') not in ('DirectRunner', 'direct'):
    return False
  if opts.get('direct_running_mode', 'in_memory') == 'in_memory':
    return True
  processes = int(opts.get('direct_num_workers', '1'))
  return processes == 1 or (processes == 0 and (os.cpu_count() or 1) == 1)


def refused_rows(failures: Sequence[manifest.Failure]) -> str:
  """The rows the manifest checks refused, with their reasons, as the lines that come
  first in a split error: a refused row reaches no split, and is often why a grade has
  too few subjects."""
  if not failures:
    return ''
  lines = [f'The manifest checks refused {len(failures)} row'
           f'{"" if len(failures) == 1 else "s"}; a refused row reaches no split:']
  lines += [f'  {f.reason} ({f.path})' for f in failures]
  return '\n'.join(lines) + '\n'


def judge_split(check: Callable[[], None], failures: Sequence[manifest.Failure],
                stop: bool = True) -> None:
  """Run one split check. A cohort that cannot fill the test split stops the run
  (``SplitError``) with the refused rows named first; with ``stop`` False (a run that
  ends before the Evaluator) the same text is a warning, and ingest goes on."""
  try:
    check()
  except splits.SplitError as e:
    message = refused_rows(failures) + str(e)
    if stop:
      raise splits.SplitError(message) from None
    print('[ingest] WARNING: this run ends before the Evaluator, so ingest goes on; a full '
          f'run would stop here:\n{message}', file=sys.stderr, flush=True)


def split_check_stops(environ=os.environ) -> bool:
  """False when the runner asked for warnings (``SPLIT_CHECK_ENV`` 'warn')."""
  value = environ.get(SPLIT_CHECK_ENV, 'stop')
  if value not in ('stop', 'warn'):
    raise ValueError(f'{SPLIT_CHECK_ENV} must be stop or warn, not {value!r}')
  return value == 'stop'


def plan_splits(items: Sequence[manifest.Item], ratios: Sequence[float],
                failures: Sequence[manifest.Failure] = (), stop: bool = True
                ) -> Tuple[Dict[str, str], Dict[str, Dict[str, int]]]:
  """Give every subject its split, and stop before any media is decoded when a grade
  could not be tested: decoding a large cohort only to find that out wastes hours.

  Returns raw subject id -> split, and split -> grade -> subjects, which the check
  after extraction compares against.
  """
  split_of = splits.assign_splits(splits.subject_grades(items), ratios)
  assigned = splits.subjects_per_class(items, split_of)
  judge_split(lambda: splits.check_test_split(assigned, assigned, ratios), failures, stop)
  return split_of, assigned


def plan_frame_split(ratios: Sequence[float]) -> None:
  """The frame split's check before any media is decoded (only that test has a
  share: which grades reach test is known only per frame), and its warning."""
  splits.require_test_share(ratios)
  print(f'[ingest] {summary.FRAME_SPLIT_WARNING}', file=sys.stderr, flush=True)


def write_crop_settings(examples_uri: str, crop: crop_settings.CropSettings,
                        source_fps: Dict[str, float], default_fps: float) -> None:
  """How every crop in these examples was made, and at which frame rates, for the
  Trainer to save with the model (``trainer.task``) and for prediction to repeat."""
  with tf.io.gfile.GFile(os.path.join(examples_uri, crop_settings.CROP_SETTINGS_FILE),
                         'w') as f:
    f.write(crop_settings.to_json(crop, source_fps, default_fps))


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads the pseudonym key and the manifest, assigns and checks splits, runs
  ExtractFaces on Beam and writes splits + summary.

  The key is read here, as the component executes, from the environment
  (``pseudonyms.ingest_key``): never an execution property, so neither MLMD nor a
  compiled pipeline holds it. A run without one stops before any media is decoded.
  """

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    path = exec_properties['manifest']
    # The manifest (maybe in a bucket) is read before the Beam pipeline, which would
    # give Beam's filesystems the S3 endpoint, region, ... of these arguments.
    storage.set_options(self._beam_pipeline_args)
    key = pseudonyms.ingest_key(path)
    found = manifest.scan(path)  # one read of the manifest, one listing of its media
    items, failures = manifest.check_rows(path, found.rows,
                                          exec_properties.get('numeric_labels'), found.stats)
    print(f'[ingest] {path}: {len(items)} rows to ingest, '
          f'{len(failures)} refused by manifest checks', file=sys.stderr, flush=True)
    ratios = json.loads(exec_properties['split_ratios'])
    split_by = exec_properties.get('split_by') or 'subject'
    stop = split_check_stops()
    if split_by == 'subject':
      split_of, assigned = plan_splits(items, ratios, failures, stop)
    else:
      plan_frame_split(ratios)
      split_of = {}
    examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
    examples.split_names = artifact_utils.encode_split_names(list(splits.SPLIT_NAMES))
    examples_utils.set_payload_format(
        examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(examples, 'tfrecords_gzip')
    crop = crop_settings.CropSettings(
        size=exec_properties['image_size'], margin=exec_properties['margin'],
        detect_width=exec_properties['detect_width'],
        alignment=exec_properties.get('alignment') or crop_settings.DEFAULT_ALIGNMENT)
    source_fps = json.loads(exec_properties['source_fps'])
    write_crop_settings(examples.uri, crop, source_fps, exec_properties['default_fps'])
    work_pattern = work_list.write(
        examples.uri, work_list.plan(items, pseudonyms.item_ids(key, items), split_of))
    workers.check_workers(self._beam_pipeline_args)
    stats_prefix = os.path.join(examples.uri, '_stats', 'part')
    progress_dir = os.path.join(examples.uri, '_progress')
    try:
      with progress.ProgressReporter(progress_dir, len(items)), \
           self._make_beam_pipeline() as p:
        build_ingest(
            p, work_pattern, examples, stats_prefix,
            segments.PlanSegments(
                segments.MediaLimits.from_json(exec_properties.get('media_limits')),
                exec_properties.get('segment_seconds') or segments.DEFAULT_SEGMENT_S,
                progress_dir, extract.STATS_TAG),
            extract.ExtractFaces(
                source_fps=source_fps, default_fps=exec_properties['default_fps'],
                crop=crop, threaded=decode_ahead(self._beam_pipeline_args),
                progress_dir=progress_dir, split_by=split_by, ratios=ratios))
    except Exception as e:
      name_rows(str(e), items)
      raise
    finally:
      work_list.remove(examples.uri)  # the raw paths go with it

    stats_lines = []
    for shard in tf.io.gfile.glob(stats_prefix + '*'):
      with tf.io.gfile.GFile(shard) as f:
        stats_lines.extend(line for line in f.read().splitlines() if line)
    tf.io.gfile.rmtree(os.path.dirname(stats_prefix))
    result = summary.summarise(stats_lines, [pseudonyms.failed_input(key, f) for f in failures],
                               split_by, manifest.is_sample_data(path, found.data))
    with tf.io.gfile.GFile(os.path.join(examples.uri, summary.SUMMARY_FILE), 'w') as f:
      json.dump(result, f, indent=2)
    print(summary.format_summary(result), file=sys.stderr, flush=True)
    print_failed_paths(result['failed_inputs'], items, failures)
    if result['faces_found'] == 0:
      raise RunStopped(f'{path}: no face crops were produced; see the failed inputs above')
    # A test subject whose media gave no face leaves its grade untested after all.
    if split_by == 'subject':
      judge_split(lambda: splits.check_test_split(
          result['subjects_per_class'], assigned, ratios, after_extraction=True),
                  failures, stop)
    else:
      judge_split(lambda: splits.check_frame_test_split(result['examples_per_class']),
                  failures, stop)


def build_ingest(p: beam.Pipeline, work_pattern: str, examples: types.Artifact,
                 stats_prefix: str, plan: beam.DoFn, extract_faces: beam.DoFn) -> None:
  """The ingest's Beam graph: the work list's files in, examples per split and one
  stats line per file out. It names files, never rows, so its size does not grow with
  the cohort (``bench/scale.py`` measures it)."""
  work = (p | 'ReadWork' >> beam.io.ReadFromText(work_pattern)
          | 'ParseWork' >> beam.Map(work_list.from_json)
          | 'SpreadFiles' >> beam.Reshuffle())
  planned = work | 'PlanSegments' >> beam.ParDo(plan).with_outputs(
      extract.STATS_TAG, main='segments')
  results = (planned.segments | 'SpreadSegments' >> beam.Reshuffle()
             | 'ExtractFaces' >> beam.ParDo(extract_faces).with_outputs(
                 extract.STATS_TAG, main='examples'))
  by_split = results.examples | 'BySplit' >> beam.Partition(
      extract.split_index, len(splits.SPLIT_NAMES))
  for name, pcoll in zip(splits.SPLIT_NAMES, by_split):
    _ = (pcoll | f'Values[{name}]' >> beam.Values()
         | f'Write[{name}]' >> beam.io.WriteToTFRecord(
             os.path.join(artifact_utils.get_split_uri([examples], name), 'data_tfrecord'),
             file_name_suffix='.gz',
             compression_type=beam.io.filesystem.CompressionTypes.GZIP))
  _ = ((planned[extract.STATS_TAG], results[extract.STATS_TAG])
       | 'AllStats' >> beam.Flatten()
       | 'ByFile' >> beam.GroupByKey()
       | 'MergeSegments' >> beam.MapTuple(lambda row, records: json.dumps(
           extract.merge_stats(records)))
       | 'WriteStats' >> beam.io.WriteToText(stats_prefix))


_ROW_IN_ERROR = re.compile(r'\brow (\d+) \(video ')


def name_rows(message: str, items: Sequence[manifest.Item]) -> None:
  """On this machine's console only, the paths of the rows a failed run names (a read
  that kept failing names its row and video pseudonym, as the cluster's logs may show)."""
  path_of = {item.row: item.path for item in items}
  for row in sorted({int(n) for n in _ROW_IN_ERROR.findall(message)}):
    if row in path_of:
      print(f'[ingest] row {row} is {path_of[row]}', file=sys.stderr, flush=True)


def print_failed_paths(failed: Sequence[dict], items: Sequence[manifest.Item],
                       refused: Sequence[manifest.Failure]) -> None:
  """The failed inputs' paths, on the console of the machine that runs ingest and
  nowhere else: the summary and the report name rows and pseudonyms."""
  if not failed:
    return
  path_of = {item.row: item.path for item in items} | {f.row: f.path for f in refused}
  print('[ingest] failed inputs on this machine (paths stay here; the summary names rows):',
        file=sys.stderr, flush=True)
  for f in failed:
    print(f"  row {f['row']}: {path_of.get(f['row'], '?')}", file=sys.stderr, flush=True)


class VideoIngest(base_beam_component.BaseBeamComponent):
  """Labelled patient videos and stills -> subject-split face crops as tf.Examples.

  ``split_by='frame'`` splits each frame on its own instead: the leaky split behind the
  paper's 99.3%, for ``palsy-tfx leakage`` to measure how much it inflates a score.
  """

  SPEC_CLASS = VideoIngestSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, manifest_path: str, input_fingerprint: Optional[str] = None,
               source_fps: Optional[Dict[str, float]] = None,
               default_fps: float = crop_settings.DEFAULT_FPS,
               split_ratios: Sequence[float] = splits.DEFAULT_RATIOS,
               image_size: int = crop_settings.DEFAULT_IMAGE_SIZE,
               margin: float = crop_settings.DEFAULT_MARGIN,
               detect_width: int = crop_settings.DEFAULT_DETECT_WIDTH,
               numeric_labels: Optional[str] = None,
               alignment: str = crop_settings.DEFAULT_ALIGNMENT,
               split_by: str = 'subject',
               media_limits: Optional[segments.MediaLimits] = None,
               segment_seconds: float = segments.DEFAULT_SEGMENT_S):
    splits.validate_ratios(split_ratios)
    if split_by not in splits.SPLIT_BY:
      raise ValueError(f'split_by must be one of {splits.SPLIT_BY}, got {split_by!r}')
    labels.check_numeric_scale(numeric_labels)
    # A bad crop setting fails here, not in the middle of a run.
    crop_settings.CropSettings(image_size, margin, detect_width, alignment)
    if not segment_seconds > 0:
      raise ValueError(f'segment_seconds must be positive, got {segment_seconds!r}')
    spec = VideoIngestSpec(
        manifest=manifest_path,
        # The runner's (manifest.fingerprint locally, given for Kubeflow): statting every
        # media file here would read a bucket at compile time.
        input_fingerprint=input_fingerprint,
        source_fps=json.dumps(source_fps or crop_settings.DEFAULT_SOURCE_FPS, sort_keys=True),
        default_fps=float(default_fps), split_ratios=json.dumps(list(split_ratios)),
        image_size=int(image_size), margin=float(margin),
        detect_width=int(detect_width), numeric_labels=numeric_labels,
        alignment=alignment, split_by=split_by,
        media_limits=(media_limits or segments.MediaLimits()).to_json(),
        segment_seconds=float(segment_seconds),
        example_contract=contract.features_fingerprint(),
        examples=types.Channel(type=standard_artifacts.Examples))
    super().__init__(spec=spec)
