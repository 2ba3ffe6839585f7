"""How soon does ``palsy-tfx predict`` refuse an input it cannot grade? The time from
start to the answer for a ``.txt`` file, against the time a fresh Python takes only to
import TensorFlow (which predict used to load, with the model, before it looked at its
inputs), both as whole processes, interleaved in one run.

  .venv/bin/python bench/predict_first_answer.py [--repeats 5]

Last line: {"first_answer_s": ..., "import_tensorflow_s": ..., "ratio": ...}
(target: first answer under 2 s; the ratio says how much of TensorFlow's start it skips)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import _common

from preprocessing import crop_settings

PALSY = os.path.join(os.path.dirname(sys.executable), 'palsy-tfx')


def model_info(folder: str) -> str:
  """A pushed version's crop record alone: predict reads it before the model."""
  os.makedirs(os.path.join(folder, crop_settings.ASSETS_EXTRA))
  with open(os.path.join(folder, crop_settings.MODEL_INFO_FILE), 'w') as f:
    f.write('{"crop_settings": %s}' % crop_settings.to_json(crop_settings.CropSettings(), {}, 3))
  return folder


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    notes = os.path.join(tmp, 'notes.txt')
    with open(notes, 'w') as f:
      f.write('not a video')
    model = model_info(os.path.join(tmp, 'model', '1'))

    def refuse():
      done = subprocess.run([PALSY, 'predict', notes, '--model', model], capture_output=True,
                            text=True, check=False)
      assert done.returncode == 2 and 'unsupported extension' in done.stderr, done.stderr

    def import_tensorflow():
      subprocess.run([sys.executable, '-c', 'import tensorflow'], capture_output=True,
                     check=True)

    first, tf_import = _common.best_of_each([refuse, import_tensorflow], args.repeats)
  print(f'predict on a .txt: {first:.2f} s to the answer; a bare `import tensorflow`: '
        f'{tf_import:.2f} s (best of {args.repeats}, interleaved)')
  print(json.dumps({'first_answer_s': round(first, 3), 'import_tensorflow_s': round(tf_import, 3),
                    'ratio': round(first / tf_import, 3)}))


if __name__ == '__main__':
  main()
