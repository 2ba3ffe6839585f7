"""The production loop on the demo, as a user would run it after ``scripts/demo.sh``: grade
the demo's held-out test videos with ``palsy-tfx grade-archive`` and ask ``palsy-tfx
monitor`` whether they drifted from the training data (they should not), then do the same
with darkened copies of them (grey levels x 0.6: they should drift on brightness).

  .venv/bin/python scripts/monitor_demo.py [--pipeline-root runs/sample]
      [--data data/sample] [--model SERVING_DIR/palsy/<version>] [--output runs/monitor_demo]

The test split's files are found by their pseudonyms: the newest Examples artifact's
``video_id`` values, under the demo key, are those of the manifest rows that ingest put in
the test split. Without ``--model``, the newest model the run pushed. Prints each step's
exit code and the monitor's findings; exits 0 when both verdicts are the expected ones.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DARKER = 0.6
PROGRAM = [sys.executable, '-m', 'pipeline.cli']


def test_rows(pipeline_root: str, manifest_path: str) -> list:
  """The manifest rows (dicts) whose files ingest put in the test split."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components.video_ingest import manifest, pseudonyms  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  from pipeline.runners import artifacts  # pylint: disable=g-import-not-at-top
  from preprocessing import contract  # pylint: disable=g-import-not-at-top
  config = artifacts.sqlite_config(configs.local_metadata_path(os.path.abspath(pipeline_root)))
  examples = artifacts.newest_artifact(config, 'Examples')
  videos = set()
  for path in tf.io.gfile.glob(os.path.join(examples.uri, 'Split-test', '*')):
    for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
      feature = tf.train.Example.FromString(record.numpy()).features.feature
      videos.add(feature[contract.VIDEO_ID].bytes_list.value[0].decode())
  key = pseudonyms.ingest_key(manifest_path, announce=False)
  return [row for row in manifest.read_rows(manifest_path)
          if pseudonyms.video_id(key, row['path']) in videos]


def newest_pushed(pipeline_root: str) -> str:
  # A local run pushes to PIPELINE_ROOT/serving/<model name>/<version> by default.
  versions = sorted(glob.glob(os.path.join(pipeline_root, 'serving', 'palsy', '[0-9]*')),
                    key=lambda p: int(os.path.basename(p)))
  if not versions:
    raise SystemExit(f'no pushed model under {pipeline_root}; give --model')
  return versions[-1]


def darken(source: str, target: str) -> None:
  """A copy of the video or still with its grey levels times ``DARKER``."""
  import cv2  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from preprocessing import frames  # pylint: disable=g-import-not-at-top
  from preprocessing.media_writer import write_video  # pylint: disable=g-import-not-at-top
  if frames.local_media_kind(source) == 'image':
    rgb = frames.read_image(source)
    cv2.imwrite(target, cv2.cvtColor((rgb * DARKER).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return
  capture = cv2.VideoCapture(source)
  fps = capture.get(cv2.CAP_PROP_FPS)
  read = []
  while True:
    ok, bgr = capture.read()
    if not ok:
      break
    read.append(cv2.cvtColor((bgr * DARKER).astype(np.uint8), cv2.COLOR_BGR2RGB))
  write_video(target, read, fps=fps)


def copy_set(rows: list, data: str, folder: str, transform=None) -> str:
  """The rows' files copied (or transformed) into ``folder``, with their manifest."""
  os.makedirs(folder, exist_ok=True)
  lines = ['path,subject_id,label,source']
  for row in rows:
    name = os.path.basename(row['path'])
    (transform or shutil.copyfile)(os.path.join(data, row['path']), os.path.join(folder, name))
    lines.append(f'{name},{row["subject_id"]},{row["label"]},{row["source"]}')
  with open(os.path.join(folder, 'manifest.csv'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return os.path.join(folder, 'manifest.csv')


def step(argv: list) -> int:
  print('$ palsy-tfx ' + ' '.join(argv), flush=True)
  code = subprocess.call(PROGRAM + argv, cwd=ROOT)
  print(f'  -> exit {code}', flush=True)
  return code


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--pipeline-root', default='runs/sample')
  parser.add_argument('--data', default='data/sample')
  parser.add_argument('--model')
  parser.add_argument('--output', default='runs/monitor_demo')
  args = parser.parse_args()
  rows = test_rows(args.pipeline_root, os.path.join(args.data, 'manifest.csv'))
  model = args.model or newest_pushed(args.pipeline_root)
  print(f'{len(rows)} test-split files of {args.data}; model {model}', flush=True)
  if os.path.exists(args.output):
    shutil.rmtree(args.output)
  verdicts = {}
  for name, transform, expected in (('as_recorded', None, 0), ('darkened', darken, 1)):
    manifest = copy_set(rows, args.data, os.path.join(args.output, name, 'media'), transform)
    graded = os.path.join(args.output, name, 'graded')
    if step(['grade-archive', '--manifest', manifest, '--model', model, '--output', graded]):
      return 2
    verdicts[name] = (step(['monitor', '--baseline', args.pipeline_root, '--graded', graded,
                            '--output', os.path.join(args.output, name, 'monitor')]), expected)
  print('verdicts (exit code, expected): ' + ', '.join(f'{n} {v}' for n, v in verdicts.items()))
  return 0 if all(code == expected for code, expected in verdicts.values()) else 1


if __name__ == '__main__':
  sys.exit(main())
