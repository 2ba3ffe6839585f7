"""The one palsy-tfx pipeline definition.

Everything environment-specific (paths, Beam args, metadata, resources) is an argument,
so the local and Kubeflow runners share this function and differ only in what they
pass, as TFX's taxi template does.
"""
import os
from typing import Any, Optional, Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.anomaly_gate import AnomalyGate
from components.curated_schema import CuratedSchema
from components.evidence_report import EvidenceReporter
from components.model_card import CardPusher, ModelCardWriter
from components.serving_check import ServingCheck
from components.video_ingest import VideoIngest
from pipeline import eval_config
from pipeline.options import DataOptions, Gates, ModelOptions, ServingOptions
from trainer import search_space

# Relative to the installed packages' folder, resolved where the component runs
# (components/curated_schema.py): a compiled Kubeflow package names no path of the
# machine that compiled it.
SCHEMA_FILE = 'pipeline/schema/schema.pbtxt'
RUN_FN = 'trainer.task.run_fn'
TUNER_FN = 'trainer.tuner.tuner_fn'
EVAL_SPLIT = 'test'  # never the early-stopping split; held-out subjects unless split by frame


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data: DataOptions,
    model: ModelOptions = ModelOptions(),
    gates: Gates = Gates(),
    serving: ServingOptions = ServingOptions(),
    beam_pipeline_args: Sequence[str] = (),
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    stop_after: str = 'push',
    enable_cache: bool = True,
    trainer_resources: Optional[Any] = None,
    tuner_resources: Optional[Any] = None,
) -> tfx.dsl.Pipeline:
  """Ingest -> statistics -> schema -> validation -> (Tuner) -> Trainer -> Evaluator ->
  model card and serving check -> Pusher, then the evidence report.

  The options (``pipeline.options``) are the runner-independent choices; the rest is
  the runner's: names and paths, Beam's options, the metadata store, resources.
  ``data.input_fingerprint`` must be set: the runner decides how the dataset's version
  is known (the local one hashes the media; the Kubeflow compile never reads media).
  ``data.grades``: the grade ids the manifest holds; absent grades get no per-grade gate.
  ``serving.serving_dir`` must be set when the pipeline pushes.
  ``stop_after`` ('ingest', 'validate', 'evaluate', 'push') cuts the DAG short.
  ``trainer_resources`` is a Kubeflow ResourceSpec (GPU, memory) for the Trainer, and
  ``tuner_resources`` one for the Tuner (``model.tune.enabled``), which picks the values
  the Trainer trains with on the eval split, never on the Evaluator's test split.
  A frame split (``data.split_by='frame'``) leaks subjects between train and test (the
  leakage demonstration), so its model may be evaluated but never pushed.
  """
  if data.split_by == 'frame' and stop_after == 'push':
    raise ValueError("a frame split leaks subjects into the test split: its model must "
                     "never be pushed; stop after 'evaluate'")
  if not data.input_fingerprint:
    raise ValueError(f'{data.manifest}: no input fingerprint (the dataset version that keys '
                     "ingest's cache); the runner must compute or be given one")
  if stop_after == 'push' and not serving.serving_dir:
    raise ValueError('no serving directory to push to (--serving-dir)')
  ingest = VideoIngest(manifest_path=data.manifest, input_fingerprint=data.input_fingerprint,
                       source_fps=data.source_fps, split_ratios=data.split_ratios,
                       image_size=data.ingest_image_size, numeric_labels=data.numeric_labels,
                       alignment=data.alignment, split_by=data.split_by,
                       media_limits=data.media_limits, segment_seconds=data.segment_seconds)
  components = [ingest]
  if stop_after != 'ingest':
    statistics = tfx.components.StatisticsGen(examples=ingest.outputs['examples'])
    if data.infer_schema:
      schema = tfx.components.SchemaGen(statistics=statistics.outputs['statistics'])
    else:
      schema = CuratedSchema(schema_file=SCHEMA_FILE).with_id('ImportSchemaGen')
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs['statistics'], schema=schema.outputs['schema'])
    gate = AnomalyGate(anomalies=validator.outputs['anomalies'])
    components += [statistics, schema, validator, gate]
  if stop_after in ('evaluate', 'push'):
    train_args = tfx.proto.TrainArgs(splits=['train'], num_steps=model.train_steps)
    # The Trainer's early stopping and the Tuner's choice watch the same split.
    eval_args = tfx.proto.EvalArgs(splits=[search_space.SPLIT])
    tuner = None
    if model.tune.enabled:
      tuner = tfx.components.Tuner(
          tuner_fn=TUNER_FN, examples=ingest.outputs['examples'],
          schema=schema.outputs['schema'], train_args=train_args, eval_args=eval_args,
          custom_config=model.custom_config())
      tuner.add_upstream_node(gate)
      if tuner_resources is not None:
        tuner = tuner.with_platform_config(tuner_resources)
      components.append(tuner)
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=ingest.outputs['examples'],
        schema=schema.outputs['schema'],
        hyperparameters=tuner.outputs['best_hyperparameters'] if tuner else None,
        train_args=train_args,
        eval_args=eval_args,
        custom_config=model.custom_config())
    trainer.add_upstream_node(gate)  # no training on data that broke the schema
    if trainer_resources is not None:
      trainer = trainer.with_platform_config(trainer_resources)
    # The trials, for the model card and the evidence report.
    trials = tuner.outputs['tuner_results'] if tuner else None
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id('latest_blessed_model_resolver')
    evaluator = tfx.components.Evaluator(
        examples=ingest.outputs['examples'],
        model=trainer.outputs['model'],
        baseline_model=baseline.outputs['model'],
        eval_config=eval_config.build(gates, data.grades),
        example_splits=[EVAL_SPLIT])
    components += [trainer, baseline, evaluator]
    pushed_model = None
    if stop_after == 'push':
      # The card of the evaluation that judged the model travels with it when it is pushed.
      card = ModelCardWriter(
          examples=ingest.outputs['examples'], model=trainer.outputs['model'],
          evaluation=evaluator.outputs['evaluation'], blessing=evaluator.outputs['blessing'],
          tuner_results=trials, model_name=serving.model_name, split=EVAL_SPLIT)
      # The blessed model proven in its serving runtime (a fresh process, its warmup
      # requests, the Trainer's answers, latency); the Pusher pushes only what passed.
      serving_check = ServingCheck(
          model=trainer.outputs['model'], model_blessing=evaluator.outputs['blessing'],
          max_p99_ms_batch_1=serving.max_p99_ms[0], max_p99_ms_batch_32=serving.max_p99_ms[1])
      pusher = CardPusher(
          model=trainer.outputs['model'],
          model_blessing=evaluator.outputs['blessing'],
          infra_blessing=serving_check.outputs['blessing'],
          model_card=card.outputs['model_card'],
          push_destination=tfx.proto.PushDestination(
              filesystem=tfx.proto.PushDestination.Filesystem(
                  base_directory=os.path.join(serving.serving_dir,
                                              serving.model_name)))).with_id('Pusher')
      components += [card, serving_check, pusher]
      pushed_model = pusher.outputs['pushed_model']
    # Every evaluated model gets its report, blessed or not, pushed or not (a frame
    # split's says it is inflated). With a Pusher the report follows it, whose output
    # says where the model went; nothing waits for the report.
    components.append(EvidenceReporter(
        examples=ingest.outputs['examples'], statistics=statistics.outputs['statistics'],
        model=trainer.outputs['model'], model_run=trainer.outputs['model_run'],
        evaluation=evaluator.outputs['evaluation'], blessing=evaluator.outputs['blessing'],
        pushed_model=pushed_model, tuner_results=trials, split=EVAL_SPLIT))
  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name, pipeline_root=pipeline_root, components=components,
      enable_cache=enable_cache, metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args))
