"""Mixed precision on the CPU: ``run_fn`` with ``--mixed-precision on`` trains with float16
maths under Keras's loss scaling, keeps float32 variables and float32 probabilities, and
exports a model whose outputs are float32 and within 1e-3 of a float32 model with the
same weights."""
import contextlib
import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from preprocessing import contract, image_ops
from trainer import export, model as model_lib, presets

pytestmark = pytest.mark.slow  # trains and exports
SIZE = 32


def _records(path, n=16):
  rng = np.random.default_rng(0)
  with tf.io.TFRecordWriter(path, options='GZIP') as w:
    for i in range(n):
      image = tf.io.encode_jpeg(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).numpy()
      w.write(tf.train.Example(features=tf.train.Features(feature={
          contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
          contract.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
          contract.VIDEO_ID: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[b'v%d' % (i % 4)]))})).SerializeToString())
  return [tf.train.Example.FromString(r.numpy()).features.feature[contract.IMAGE]
          .bytes_list.value[0] for r in tf.data.TFRecordDataset(path, 'GZIP')]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """The demo preset, two steps with mixed precision on the CPU, and the model it
  exported (caught on its way to ``export.export``)."""
  from tfx.components.trainer.fn_args_utils import FnArgs  # pylint: disable=g-import-not-at-top
  from trainer import task  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('mixed')
  path = str(root / 'data.gz')
  crops = _records(path)
  caught = {}

  def spy(model, export_dir, *args, **kwargs):
    caught.update(model=model, temperature=kwargs['temperature'])
    return real_export(model, export_dir, *args, **kwargs)

  real_export = export.export
  log = io.StringIO()
  with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(log):
    patch.setattr(export, 'export', spy)
    task.run_fn(FnArgs(train_files=[path], eval_files=[path], train_steps=2,
                       serving_model_dir=str(root / 'serving'), model_run_dir=str(root / 'run'),
                       custom_config={'preset': 'demo', 'image_size': SIZE, 'seed': 2,
                                      'overrides': {'epochs': 2},
                                      presets.CONFIG_MIXED_PRECISION: 'on',
                                      presets.CONFIG_JIT_COMPILE: 'off'}),
                accelerators=[])
  with open(root / 'serving' / 'assets.extra' / 'palsy_model.json') as f:
    info = json.load(f)
  return {**caught, 'crops': crops, 'log': log.getvalue(), 'info': info,
          'loaded': tf.saved_model.load(str(root / 'serving'))}


def test_it_trained_under_loss_scaling_in_float16(trained):
  model = trained['model']
  scaling = model.optimizer
  assert isinstance(scaling, keras.optimizers.LossScaleOptimizer)
  # Keras's training step differentiates scale_loss(loss): the loss times the scale.
  assert float(scaling.scale_loss(1.0)) == float(scaling.dynamic_scale) > 1.0
  # Both steps went through the scaling's path for finite gradients (which unscales them
  # by the same scale) into the preset's Adam.
  assert int(scaling.step_counter) == 2 and int(scaling.inner_optimizer.iterations) == 2
  assert model.get_layer('small_cnn').get_layer('block1_conv').compute_dtype == 'float16'
  assert trained['info']['placement']['mixed_precision'] is True
  assert 'the CPU, mixed precision on, XLA off' in trained['log']


def test_variables_and_probabilities_are_float32(trained):
  model = trained['model']
  assert {w.dtype for w in model.weights} == {'float32'}
  images = image_ops.preprocess_bytes(tf.constant(trained['crops']), SIZE, 'standardize')
  assert model(images).dtype == tf.float32


def test_the_export_is_float32_and_matches_a_float32_model(trained):
  """The same weights in a float32 copy of the classifier: the exported (mixed) model's
  probabilities are within 1e-3 of the copy's, calibrated by the same temperature, and
  not within float32's rounding of them."""
  model = trained['model']
  out = trained['loaded'].signatures[contract.SERVING_IMAGES](
      images=tf.constant(trained['crops']))
  assert {out[k].dtype for k in (contract.OUTPUT_PROBABILITIES, contract.OUTPUT_LOGITS)} == {
      tf.float32}
  keras.mixed_precision.set_global_policy('float32')
  copy = model_lib.build_classifier(presets.PRESETS['demo'], SIZE, '')
  copy.set_weights(model.get_weights())
  assert {w.dtype for w in copy.weights} == {'float32'}
  images = image_ops.preprocess_bytes(tf.constant(trained['crops']), SIZE, 'standardize')
  logits, _ = model_lib.scores_function(copy)(images)
  expected = tf.nn.softmax(logits / trained['temperature']).numpy()
  got = out[contract.OUTPUT_PROBABILITIES].numpy()
  difference = np.abs(got - expected).max()
  print(f'exported (mixed) vs float32 copy: largest difference {difference:.3g}')
  assert difference <= 1e-3
  # and more than float32's own rounding: the export really computed in float16 (measured:
  # 3.1e-4 exported with mixed precision, 1.8e-7 when it was float32 throughout)
  assert difference > 1e-5
