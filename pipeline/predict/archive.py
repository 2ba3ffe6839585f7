"""Grade a hospital's archive on Beam: ``palsy-tfx grade-archive``.

The driver reads the manifest once (one listing of its media), checks each row as
ingest does and pseudonymises it, and writes the work list to files under the output
folder (``work_list.write_shards``): the job graph holds a file pattern, never the rows.
On the workers, each file goes through ``grade.sample``, the sampling, face finding and
cropping loop of ingest and ``predict``, with the crop record the model carries; its
crops are graded by ``RunInference`` through the model's ``serving_images`` signature
(``ServingImages``, over the ``SavedModelGrader`` that ``predict --model`` uses), in
batches that mix files; each file's rows come back together by key and are pooled by
``grade.graded``, the Evaluator's rule. So an archive graded here gets the grades
``predict`` gives, frame for frame.

Out come one JSON line per input (``Prediction.as_json``, the ``predict --output-json``
contract, with the manifest ``row``, the ``video_id`` and ``subject_id`` pseudonyms and
the ``label``), which ``palsy-tfx monitor`` reads, and a summary (``archive_summary``).
A bad row is named and the rest graded; a transient read fault is retried and then
stops the run, never recorded as a bad file (``preprocessing.transient``).
"""
import dataclasses
import json
import os
import secrets
from typing import Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference import base

from components.video_ingest import manifest, progress, pseudonyms, work_list
from pipeline.predict import archive_summary, grade
from pipeline.predict.base import Scores
from preprocessing import crop_settings, frames, referral, storage, transient
from preprocessing.labels import GRADES

GRADED = 'graded'           # the JSON lines: graded-SSSSS-of-NNNNN.jsonl
GRADED_SUFFIX = '.jsonl'
SUMMARY_FILE = 'summary.json'
WORK = '_work'              # the work list, the tally and the progress files; removed at the end
_SAMPLED = 'sampled'
_SCORES = 'scores'
REQUIRED = ('path',)        # subject_id, label, source and side may be given


class ArchiveError(ValueError):
  """An archive grading that cannot start as asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class Work:
  """What a worker needs of one manifest row: never the raw subject id."""
  row: int
  path: str
  kind: str                 # 'video' or 'image'
  video: str                # pseudonym of the path as the manifest writes it
  subject: Optional[str]    # pseudonym; None: the row gives no subject_id
  label: Optional[int]      # grade id; None: the row gives no label
  source: str


@dataclasses.dataclass
class Plan:
  works: List[Work]
  refused: List[dict]       # rows turned away, by row and pseudonym (``failed_input``)
  failures: List[manifest.Failure]  # the same, with paths, for this machine's console
  manifest_rows: int
  stable_pseudonyms: bool


def _key(manifest_path: str, environ) -> Tuple[bytes, bool]:
  """The pseudonym key and whether pseudonyms hold beyond this run: the one set (as ingest
  reads it, so an archive's subjects match the pipeline's), the demo key for the sample
  data, or a random key of this run, so that no pseudonym can be traced to a guessed
  path or id."""
  key = pseudonyms.read_key(environ)
  if key is not None:
    return key, True
  if manifest.is_sample_data(manifest_path):
    return pseudonyms.DEMO_KEY, True
  return secrets.token_bytes(32), False


def plan(manifest_path: str, numeric_labels: Optional[str] = None, environ=os.environ) -> Plan:
  """The manifest's rows, checked as ingest checks them (``manifest.check_rows``) but
  with only ``path`` required, and pseudonymised."""
  found = manifest.scan(manifest_path, REQUIRED)
  items, failures = manifest.check_rows(manifest_path, found.rows, numeric_labels,
                                        found.stats, REQUIRED)
  key, stable = _key(manifest_path, environ)
  works = [Work(item.row, item.path, item.kind, pseudonyms.video_id(key, item.rel_path),
                pseudonyms.subject_id(key, item.subject_id) if item.subject_id else None,
                item.grade, item.source) for item in items]
  return Plan(works, [pseudonyms.failed_input(key, f) for f in failures], failures,
              len(found.rows), stable)


def parse_work(line: str) -> Work:
  return Work(**json.loads(line))


def model_info(model_dir: str) -> dict:
  """The model's ``palsy_model.json``, from a local folder or a bucket."""
  if not storage.is_remote(model_dir):
    return crop_settings.read_model_info(model_dir)
  path = storage.join(model_dir, crop_settings.MODEL_INFO_FILE)
  if not storage.exists(path):
    raise crop_settings.ModelInfoError(f'{path} not found: give a pushed model version '
                                       'directory')
  return json.loads(storage.read_bytes(path))


class CropFile(progress.TallyingDoFn):
  """A manifest row's file, sampled and cropped by ``grade.sample``: out come the row's
  sampled ``Prediction`` (tagged ``_SAMPLED``) and each crop keyed by (row, index). A
  file that cannot be read ends as a Prediction with its error and no crops."""

  def __init__(self, record: crop_settings.CropRecord, progress_dir: Optional[str],
               backoff_s: float = transient.BACKOFF_S):
    super().__init__(progress_dir, backoff_s)
    self._record = record

  def _crop(self, work: Work) -> Tuple[grade.Prediction, List[bytes]]:
    result = grade.Prediction(work.path)
    try:
      return result, grade.sample(result, self._record, work.source, kind=work.kind,
                                  threaded=False)
    except frames.MediaError as e:
      result.error = str(e)
    except Exception as e:  # pylint: disable=broad-except
      if transient.is_transient(e):
        raise  # for transient.retry: a timeout says nothing about the file
      result.error = f'{type(e).__name__}: {e}'  # one bad file must not sink the archive
    return result, []

  def process(self, work: Work) -> Iterator:
    result, jpegs = transient.retry(lambda: self._crop(work),
                                    f'row {work.row} (video {work.video})',
                                    backoff_s=self._backoff_s)
    self._tally.add({'failure': result.error, 'sampled': result.frames_sampled,
                     'faces': result.faces_found, 'no_face': result.frames_without_face}, 1.0)
    yield beam.pvalue.TaggedOutput(_SAMPLED, (work.row, (work, result)))
    for i, jpeg in enumerate(jpegs):
      yield (work.row, i), jpeg


class ServingImages(base.ModelHandler[bytes, base.PredictionResult, object]):
  """JPEG crops in; out per crop its (K,) probabilities and its ``ood_score`` (None for
  a model without the guard), from ``SavedModelGrader``, loaded once per worker.

  ``apache_beam.ml.inference.tensorflow_inference`` would load the model, but it imports
  tensorflow_hub, which does not import in our environment (as the evidence report's
  handler says); this one is the ``Grader`` that ``predict --model`` calls."""

  def __init__(self, model_dir: str):
    super().__init__()
    self._dir = model_dir

  def load_model(self):
    from pipeline.predict import saved_model  # pylint: disable=g-import-not-at-top
    return saved_model.SavedModelGrader(self._dir)

  def run_inference(self, batch: Sequence[bytes], model, inference_args=None
                    ) -> List[base.PredictionResult]:
    scores = model.scores(list(batch))
    ood = ([None] * len(batch) if scores.ood_scores is None else scores.ood_scores.tolist())
    return [base.PredictionResult(jpeg, (row, score))
            for jpeg, row, score in zip(batch, scores.probabilities, ood)]

  def get_num_bytes(self, batch: Sequence[bytes]) -> int:
    return sum(len(jpeg) for jpeg in batch)

  def batch_elements_kwargs(self):
    # Fixed batches, as predict calls the signature: Beam's adaptive start at one crop
    # would load every worker with thousands of tiny calls.
    return {'min_batch_size': grade.MAX_BATCH, 'max_batch_size': grade.MAX_BATCH}


def _scored(keyed) -> Tuple[int, Tuple[int, np.ndarray, Optional[float]]]:
  (row, index), result = keyed
  probabilities, ood = result.inference
  return row, (index, probabilities, ood)


def assemble(joined, rules: referral.Rules) -> Tuple[Work, grade.Prediction]:
  """One row's sampled Prediction and its crops' scores, in crop order, graded by
  ``grade.graded``."""
  _, groups = joined
  (work, result), = groups[_SAMPLED]
  if result.error is None:
    scored = sorted(groups[_SCORES], key=lambda s: s[0])
    ood = [s[2] for s in scored]
    grade.graded(result, Scores(
        np.stack([s[1] for s in scored]).astype(np.float32),
        None if any(o is None for o in ood) else np.asarray(ood, np.float32)), rules)
  return work, result


def json_line(graded: Tuple[Work, grade.Prediction]) -> str:
  """``predict --output-json``'s object for the input, with its manifest row, its
  pseudonyms and its label."""
  work, result = graded
  return json.dumps({**result.as_json(), 'row': work.row, 'video_id': work.video,
                     'subject_id': work.subject,
                     'label': None if work.label is None else GRADES[work.label]})


def summary_record(graded: Tuple[Work, grade.Prediction]) -> dict:
  work, result = graded
  return archive_summary.record(work.row, work.video, work.subject, work.label, result)


class TallyFn(beam.CombineFn):
  """``archive_summary``'s tally as a Beam combiner: one small record per input in, one
  tally out, merged across workers."""

  def create_accumulator(self):
    return archive_summary.empty()

  def add_input(self, mutable_accumulator, element):
    return archive_summary.add(mutable_accumulator, element)

  def merge_accumulators(self, accumulators):
    return archive_summary.merge(accumulators)

  def extract_output(self, accumulator):
    return accumulator


def build(p: beam.Pipeline, work_pattern: str, model_dir: str, output_dir: str,
          record: crop_settings.CropRecord, rules: referral.Rules,
          progress_dir: Optional[str] = None, backoff_s: float = transient.BACKOFF_S):
  """Add the grading to ``p``: the work list's files in, the JSON lines and the tally
  (``WORK``/tally.json) out."""
  cropped = (p | 'ReadWork' >> beam.io.ReadFromText(work_pattern)
             | 'Parse' >> beam.Map(parse_work)
             # One file per worker at a time: the work list's shards are few.
             | 'Spread' >> beam.Reshuffle()
             | 'Crop' >> beam.ParDo(CropFile(record, progress_dir, backoff_s)).with_outputs(
                 _SAMPLED, main='crops'))
  scores = (cropped.crops
            | 'Grade' >> base.RunInference(base.KeyedModelHandler(ServingImages(model_dir)))
            | 'ByRow' >> beam.Map(_scored))
  graded = ({_SAMPLED: cropped[_SAMPLED], _SCORES: scores}
            | 'Join' >> beam.CoGroupByKey()
            | 'Pool' >> beam.Map(assemble, rules))
  _ = (graded | 'Line' >> beam.Map(json_line)
       | 'WriteLines' >> beam.io.WriteToText(os.path.join(output_dir, GRADED),
                                             file_name_suffix=GRADED_SUFFIX))
  _ = (graded | 'Record' >> beam.Map(summary_record)
       | 'Tally' >> beam.CombineGlobally(TallyFn())
       | 'TallyJson' >> beam.Map(json.dumps)
       | 'WriteTally' >> beam.io.WriteToText(os.path.join(output_dir, WORK, 'tally'),
                                             file_name_suffix='.json',
                                             shard_name_template=''))


def check_output(output_dir: str) -> None:
  """Refuse a folder that holds an earlier grading: its lines would be read with the new
  ones by the monitor, and a rerun with fewer shards would leave old ones behind."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  old = tf.io.gfile.glob(os.path.join(output_dir, f'{GRADED}-*{GRADED_SUFFIX}'))
  if old or tf.io.gfile.exists(os.path.join(output_dir, SUMMARY_FILE)):
    raise ArchiveError(f'{output_dir} already holds a grading ({SUMMARY_FILE}, '
                       f'{GRADED}-*{GRADED_SUFFIX}); give a new folder, or remove those files')


def grade_archive(manifest_path: str, model_dir: str, output_dir: str,
                  beam_args: Sequence[str], numeric_labels: Optional[str] = None,
                  environ=os.environ, backoff_s: float = transient.BACKOFF_S,
                  progress_interval: float = 10.0) -> dict:
  """Grade every row of the manifest with the model; return the summary, also written
  to ``output_dir``/summary.json. ``output_dir`` must be reachable by the workers."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  info = model_info(model_dir)
  record = crop_settings.from_info(info, storage.join(model_dir, crop_settings.MODEL_INFO_FILE))
  rules = referral.Rules.from_model(info)
  check_output(output_dir)
  storage.set_options(beam_args)
  work = plan(manifest_path, numeric_labels, environ)
  for failure in work.failures:
    print(f'[grade-archive] refused: {failure.path}: {failure.reason}', flush=True)
  work_dir = os.path.join(output_dir, WORK)
  if tf.io.gfile.exists(work_dir):  # a crashed run's
    tf.io.gfile.rmtree(work_dir)
  pattern = work_list.write_shards(work_dir, [json.dumps(dataclasses.asdict(w))
                                              for w in work.works])
  progress_dir = os.path.join(work_dir, 'progress')
  with progress.ProgressReporter(progress_dir, len(work.works), progress_interval,
                                 name='grade-archive'):
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as p:
      build(p, pattern, model_dir, output_dir, record, rules, progress_dir, backoff_s)
  with tf.io.gfile.GFile(os.path.join(work_dir, 'tally.json')) as f:
    tally = json.load(f)
  summary = archive_summary.summarise(tally, work.manifest_rows, work.refused,
                                      work.stable_pseudonyms)
  with tf.io.gfile.GFile(os.path.join(output_dir, SUMMARY_FILE), 'w') as f:
    json.dump(summary, f, indent=2)
  tf.io.gfile.rmtree(work_dir)
  return summary
