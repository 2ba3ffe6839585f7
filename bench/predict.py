"""What does ``palsy-tfx predict`` add to its parts? The whole prediction of one
10-second 1080p video (``pipeline.predict.grade.predict_file``) against its two parts timed
alone in the same run: sampling and cropping (``preprocessing.face_frames``), then one
model call on all the crops through ``serving_images``.

  .venv/bin/python bench/predict.py [--model dlib_resnet] [--head asymmetry]
      [--image-size 150] [--alignment five_point] [--seconds 10] [--repeats 3]
      [--model-dir PUSHED_VERSION_DIR]

By default a SavedModel of the demo's architecture (random weights: the speed is the
same) is exported here with the demo's crop record; --model-dir times a pushed model.

Last line: {"vs_parts": ...}  (target <= 1.3)
"""
import argparse
import json
import os
import tempfile

import _common

from pipeline.demo.sample_data import Subject, render_frames
from pipeline.predict import grade, saved_model
from preprocessing import crop_settings, face_frames
from preprocessing.media_writer import write_video

SIZE = (1920, 1080)
SOURCE = 'yfp'  # 6 fps, the highest of the default rates


def make_clip(path: str, seconds: float) -> None:
  """30 fps 1080p of the astronaut's face, moving a little, at a clinic's scale."""
  subject = Subject('bench', 2, SOURCE, 'left', seed=5)
  write_video(path, render_frames(subject, int(seconds * 30), size=SIZE,
                                  face_px=SIZE[1] * 0.33, fps=30),
              fps=30, options={'preset': 'veryfast', 'crf': '23'})


def export_model(args, export_dir: str) -> None:
  """The preset's network, exported by the Trainer's own code with a crop record."""
  from trainer import export, presets  # pylint: disable=g-import-not-at-top
  from trainer.model import build_classifier  # pylint: disable=g-import-not-at-top
  preset = presets.resolve(args.model, {'head': args.head})
  crop = crop_settings.CropSettings(size=args.image_size, alignment=args.alignment)
  record = json.loads(crop_settings.to_json(crop, {'meei': 3.0, SOURCE: 6.0}, 3.0))
  export.export(build_classifier(preset, args.image_size, 'none'), export_dir,
                args.image_size, preset.normalisation, {'crop_settings': record})


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default='dlib_resnet')
  parser.add_argument('--head', default='asymmetry')
  parser.add_argument('--image-size', type=int, default=150)
  parser.add_argument('--alignment', default='five_point')
  parser.add_argument('--seconds', type=float, default=10.0)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--model-dir', help='a pushed model version directory to time instead')
  args = parser.parse_args()
  work = tempfile.mkdtemp()
  clip = os.path.join(work, 'clip.mp4')
  make_clip(clip, args.seconds)
  model_dir = args.model_dir or os.path.join(work, 'model')
  if not args.model_dir:
    export_model(args, model_dir)
  record = crop_settings.from_model(model_dir)
  grader = saved_model.SavedModelGrader(model_dir)

  def sample_and_crop():
    return [f.crop.jpeg for f in face_frames.face_frames(clip, 'video', record.fps(SOURCE),
                                                         record.crop) if f.crop]

  jpegs = sample_and_crop()
  t_crop, t_model, t_whole = _common.best_of_each(
      [sample_and_crop, lambda: grader.scores(jpegs),
       lambda: grade.predict_file(clip, grader, record, SOURCE)], args.repeats)
  result = grade.predict_file(clip, grader, record, SOURCE)
  assert result.error is None and result.faces_found == len(jpegs), result.error
  print(f'{args.seconds:g} s 1080p clip at {record.fps(SOURCE):g} fps: '
        f'{result.frames_sampled} frames, {result.faces_found} faces; sampling and cropping '
        f'{t_crop:.2f} s, one model call {t_model:.2f} s, whole predict {t_whole:.2f} s')
  print(json.dumps({'vs_parts': round(t_whole / (t_crop + t_model), 3),
                    'whole_s': round(t_whole, 3), 'sampling_cropping_s': round(t_crop, 3),
                    'model_call_s': round(t_model, 3), 'frames': result.frames_sampled}))


if __name__ == '__main__':
  main()
