"""Model family, weight loading, presets, input pipeline and serving preprocessing."""
import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from preprocessing import contract, image_ops
from trainer import data, export, model, presets, vggface, weight_files, weights


def _randomise(m, seed=0):
  rng = np.random.default_rng(seed)
  m.set_weights([rng.normal(size=w.shape).astype('float32') for w in m.get_weights()])


@pytest.mark.parametrize('arch,shape', [('vgg16', (48, 48, 3)), ('resnet50', (64, 64, 3)),
                                        ('senet50', (64, 64, 3))])
def test_rcmalli_layout_loads_by_name(tmp_path, arch, shape):
  source = vggface.ARCHITECTURES[arch](shape, include_top=False)
  _randomise(source)
  path = str(tmp_path / weight_files.VGGFACE_FILES[(arch, False)])
  weights.save_rcmalli_layout(source, path)
  target = vggface.ARCHITECTURES[arch](shape, include_top=False)
  loaded = weights.load_by_name(target, path)
  assert loaded == sum(1 for layer in target.layers if layer.weights)
  for a, b in zip(source.get_weights(), target.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_rcmalli_names_are_kept():
  m = vggface.resnet50((64, 64, 3))
  names = {vggface.h5_name(layer.name) for layer in m.layers}
  assert {'conv1/7x7_s2', 'conv1/7x7_s2/bn', 'conv2_1_1x1_reduce', 'conv2_1_1x1_proj/bn',
          'conv5_3_1x1_increase/bn'} <= names
  se = {vggface.h5_name(layer.name) for layer in vggface.senet50((64, 64, 3)).layers}
  assert {'conv2_1_1x1_down', 'conv5_3_1x1_up'} <= se
  top = {layer.name for layer in vggface.vgg16((224, 224, 3), include_top=True).layers}
  assert {'conv5_3', 'pool5', 'fc6', 'fc7', 'fc8'} <= top


def test_with_top_file_loads_into_no_top_model(tmp_path):
  full = vggface.vgg16((48, 48, 3), include_top=True, classes=7)
  _randomise(full, 1)
  path = str(tmp_path / 'with_top.h5')
  weights.save_rcmalli_layout(full, path)
  base = vggface.vgg16((48, 48, 3))
  weights.load_by_name(base, path)
  np.testing.assert_array_equal(base.get_layer('conv5_3').get_weights()[0],
                                full.get_layer('conv5_3').get_weights()[0])


def test_mismatched_file_lists_every_mismatch(tmp_path):
  other = keras.Sequential([keras.Input((48, 48, 3)),
                            keras.layers.Conv2D(8, 3, name='conv1_1'),
                            keras.layers.Conv2D(8, 3, name='unrelated')])
  path = str(tmp_path / 'bad.h5')
  weights.save_rcmalli_layout(other, path)
  with pytest.raises(weights.WeightsMismatch) as err:
    weights.load_by_name(vggface.vgg16((48, 48, 3)), path)
  message = str(err.value)
  assert 'conv1_1: model expects [(3, 3, 3, 64), (64,)], file has [(3, 3, 3, 8), (8,)]' in message
  assert 'conv5_3: not in file' in message
  assert '13 mismatched layer(s)' in message


def test_missing_weights_say_which_file_and_where(tmp_path, monkeypatch):
  monkeypatch.setattr(weight_files, 'KERAS_CACHE', str(tmp_path / 'cache'))
  with pytest.raises(weights.WeightsNotFound) as err:
    model.build_backbone('vggface_vgg16', 48, '')
  assert 'rcmalli_vggface_tf_notop_vgg16.h5' in str(err.value)
  assert str(tmp_path / 'cache' / 'vggface') in str(err.value)
  with pytest.raises(weights.WeightsNotFound, match='does not exist'):
    model.build_backbone('vgg16', 48, str(tmp_path / 'nope.h5'))


def test_keras_cache_is_used(tmp_path, monkeypatch):
  monkeypatch.setattr(weight_files, 'KERAS_CACHE', str(tmp_path))
  source = vggface.vgg16((48, 48, 3))
  _randomise(source, 2)
  os.makedirs(tmp_path / 'vggface')
  weights.save_rcmalli_layout(
      source, str(tmp_path / 'vggface' / weight_files.VGGFACE_FILES[('vgg16', False)]))
  built = model.build_backbone('vggface_vgg16', 48, '')
  np.testing.assert_array_equal(built.get_layer('conv1_1').get_weights()[0],
                                source.get_layer('conv1_1').get_weights()[0])


def test_random_init_only_when_asked_and_loudly(capsys):
  model.build_backbone('vggface_vgg16', 48, 'none')
  assert 'RANDOMLY INITIALISED' in capsys.readouterr().out


@pytest.mark.parametrize('name,backbone_layers', [('fp_vggface', 19), ('vgg16', 19),
                                                  ('resnet50', 175)])
def test_trainable_layers_match_presets(name, backbone_layers):
  preset = presets.PRESETS[name]
  clf = model.build_classifier(preset, 64, 'none')
  backbone = clf.layers[1]
  assert len(backbone.layers) == backbone_layers
  trainable = [layer for layer in backbone.layers if layer.trainable]
  assert len(trainable) == preset.trainable_layers
  assert trainable == backbone.layers[-preset.trainable_layers:]
  head = [layer for layer in clf.layers[2:] if layer.weights]
  assert head and all(layer.trainable for layer in head)
  assert clf.output_shape == (None, 6)
  assert type(clf.optimizer).__name__.lower() == preset.optimizer
  dropouts = [layer.rate for layer in clf.layers if isinstance(layer, keras.layers.Dropout)]
  assert dropouts == ([preset.dropout] * 2 if preset.dropout else [])


def test_paper_presets_and_overrides():
  table = {name: dataclasses.astuple(p)[:6] for name, p in presets.PRESETS.items()}
  assert table['fp_vggface'] == ('vggface_vgg16', 10, 'adam', 1e-3, 0.0, 'vggface')
  assert table['vgg16'] == ('vgg16', 8, 'adam', 1e-3, 0.6, 'imagenet')
  assert table['resnet50'] == ('resnet50', 150, 'sgd', 1e-4, 0.5, 'imagenet')
  assert all(p.epochs == 25 for n, p in presets.PRESETS.items() if n != 'demo')
  p = presets.resolve('resnet50', {'learning_rate': 0.01, 'dropout': None})
  assert (p.learning_rate, p.dropout, p.trainable_layers, p.optimizer) == (0.01, 0.5, 150, 'sgd')
  assert p.epochs == 25
  with pytest.raises(ValueError, match='unknown model preset'):
    presets.resolve('vgg19', {})


def _records(tmp_path, n=8, size=32):
  path = str(tmp_path / 'data.gz')
  rng = np.random.default_rng(0)
  with tf.io.TFRecordWriter(path, options='GZIP') as w:
    for i in range(n):
      img = tf.io.encode_jpeg(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).numpy()
      ex = tf.train.Example(features=tf.train.Features(feature={
          'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[img])),
          'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
          'video_id': tf.train.Feature(bytes_list=tf.train.BytesList(value=[b'v%d' % (i % 4)]))
      }))
      w.write(ex.SerializeToString())
  return path


def test_augmentation_on_train_only(tmp_path):
  path = _records(tmp_path, n=1)
  raw = next(iter(tf.data.TFRecordDataset(path, compression_type='GZIP'))).numpy()
  jpeg = tf.train.Example.FromString(raw).features.feature['image'].bytes_list.value[0]
  plain = image_ops.preprocess_bytes(tf.constant([jpeg]), 32, 'paper').numpy()
  for _ in range(3):  # eval batches are exactly the preprocessed image, every time
    x, _ = next(iter(data.dataset(path, 32, 'paper', 1, training=False)))
    np.testing.assert_array_equal(x.numpy(), plain)
  trained = [next(iter(data.dataset(path, 32, 'paper', 1, training=True)))[0].numpy()
             for _ in range(3)]
  assert all(np.abs(t - plain).mean() > 0.01 for t in trained)  # warped
  assert np.abs(trained[0] - trained[1]).mean() > 0.01           # differently each time


def test_class_weights_from_train_counts(tmp_path):
  path = _records(tmp_path, n=9)
  counts = data.class_counts(path)
  assert counts.tolist() == [3, 3, 3, 0, 0, 0]
  w = data.class_weights(np.array([10, 30, 0, 20, 0, 0]))
  assert w[2] == 0 and w[0] == pytest.approx(2.0) and w[1] == pytest.approx(2 / 3)


def _examples_artifact(tmp_path, summary=None):
  """Records in TFX's layout, ``<artifact>/Split-train/``, with ingest's summary beside
  them when one is given."""
  split = tmp_path / 'Examples' / 'Split-train'
  split.mkdir(parents=True)
  records = _records(split, n=9)  # grades 0, 1, 2: three each
  if summary is not None:
    (tmp_path / 'Examples' / contract.INGEST_SUMMARY_FILE).write_text(json.dumps(summary))
  return [str(split / '*')], records


def test_class_counts_come_from_ingests_summary_without_reading_the_split(tmp_path):
  """The summary's counts, which differ from the records' on purpose: had the Trainer
  read the split, it would have found 3, 3, 3."""
  patterns, records = _examples_artifact(tmp_path, {contract.EXAMPLES_PER_CLASS: {
      'train': {'normal': 5, 'moderate': 2}, 'eval': {'normal': 1}}})
  counts, source = data.train_class_counts(patterns)
  assert (counts.tolist(), source) == ([5, 0, 0, 2, 0, 0], 'ingest summary')
  os.remove(records)  # not even opened
  assert data.train_class_counts(patterns)[0].tolist() == [5, 0, 0, 2, 0, 0]


@pytest.mark.parametrize('summary', [None, {contract.EXAMPLES_PER_CLASS: {'eval': {}}}],
                         ids=['no summary', 'no train split in it'])
def test_class_counts_fall_back_to_a_pass_over_the_split(tmp_path, summary):
  patterns, _ = _examples_artifact(tmp_path, summary)
  counts, source = data.train_class_counts(patterns)
  assert (counts.tolist(), source) == ([3, 3, 3, 0, 0, 0], 'a pass over the train split')


def test_training_and_serving_preprocess_with_the_same_functions(tmp_path):
  # The input pipeline and the serving module call these very function objects.
  assert data.image_ops is image_ops and export.image_ops is image_ops
  path = _records(tmp_path, n=4)
  train_side = next(iter(data.dataset(path, 24, 'vggface', 4, training=False)))[0].numpy()
  raw = [tf.train.Example.FromString(r.numpy()).features.feature['image'].bytes_list.value[0]
         for r in tf.data.TFRecordDataset(path, compression_type='GZIP')]
  serve_side = image_ops.preprocess_bytes(tf.constant(raw), 24, 'vggface').numpy()
  assert train_side.tobytes() == serve_side.tobytes()


def test_normalisations():
  x = tf.fill((1, 2, 2, 3), 255.0)
  assert float(tf.reduce_max(image_ops.normalise(x, 'paper'))) == 1.0
  bgr = image_ops.normalise(tf.constant([[[[10.0, 20.0, 30.0]]]]), 'imagenet').numpy()
  np.testing.assert_allclose(bgr[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-5)
  with pytest.raises(ValueError, match='unknown normalisation'):
    image_ops.normalise(x, 'zscore')


@pytest.mark.slow
def test_a_seeded_rerun_on_cpu_reproduces_the_model(tmp_path):
  from tfx.components.trainer.fn_args_utils import FnArgs  # pylint: disable=g-import-not-at-top
  from trainer import task  # pylint: disable=g-import-not-at-top
  path = _records(tmp_path, n=12)
  serialized = tf.constant([r.numpy() for r in tf.data.TFRecordDataset(path, 'GZIP')])
  crops = [tf.train.Example.FromString(r.numpy()).features.feature['image'].bytes_list.value[0]
           for r in tf.data.TFRecordDataset(path, 'GZIP')]

  def train(name, seed):
    out = tmp_path / name
    task.run_fn(FnArgs(train_files=[path], eval_files=[path], train_steps=None,
                       serving_model_dir=str(out / 'serving'), model_run_dir=str(out / 'run'),
                       custom_config={'preset': 'demo', 'image_size': 32, 'seed': seed,
                                      'overrides': {'epochs': 2}}))
    loaded = tf.saved_model.load(str(out / 'serving'))
    probs = loaded.signatures['serving_default'](examples=serialized)['probabilities'].numpy()
    with open(out / 'serving' / 'assets.extra' / 'palsy_model.json') as f:
      calibrated = json.load(f)['calibration']  # fitted on the eval files, stored in the model
    assert calibrated['eval_frames'] == 12
    assert loaded.temperature.numpy() == np.float32(calibrated['temperature'])
    # TF Serving's warmup requests carry real crops of the eval files, one per video (the
    # records' videos are v0 v1 v2 v3 v0 ...), and the Trainer's answers to them.
    from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in
            tf.data.TFRecordDataset(str(out / 'serving' / 'assets.extra' /
                                        'tf_serving_warmup_requests'))]
    [images] = [tf.make_ndarray(log.predict_log.request.inputs['images']).tolist()
                for log in logs if log.predict_log.request.model_spec.signature_name ==
                'serving_images']
    assert images == crops[:4]
    assert (out / 'serving' / 'assets.extra' / 'warmup_expected_responses').exists()
    with open(out / 'run' / 'history.json') as f:
      return json.load(f)['loss'], probs

  loss_a, probs_a = train('a', seed=7)
  loss_b, probs_b = train('b', seed=7)
  loss_c, probs_c = train('c', seed=8)
  assert loss_a == loss_b
  np.testing.assert_array_equal(probs_a, probs_b)
  assert loss_c != loss_a and not np.array_equal(probs_c, probs_a)  # the seed matters
