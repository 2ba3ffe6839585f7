"""Ingest benchmark: our sampler+detector vs the naive loop and the decode-only limit,
Beam with 2 workers vs 1, and fidelity to the full-resolution detector. Ratios come
from one run, side by side, because the machines are shared and absolute numbers drift.

  .venv/bin/python bench/ingest.py [--seconds 20] [--naive-seconds 5]

Last line: {"vs_naive", "vs_decode_limit", "workers_2_vs_1", "beam_2_vs_1_default",
"iou", "small_face_recall", "fallback_rate"}
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from preprocessing import logs  # pylint: disable=g-import-not-at-top
logs.configure_libraries()  # before TensorFlow and Beam are imported

import cv2  # pylint: disable=g-import-not-at-top
import numpy as np

from components.video_ingest import extract, manifest, pseudonyms, work_list
from pipeline.demo.sample_data import Subject, render_frames
from preprocessing import faces, frames
from preprocessing.media_writer import write_video
from tests import face_scenes

FPS = 6.0
SIZES = {'720p': (1280, 720), '1080p': (1920, 1080)}
# The faces a downscaled pass loses (the examples): one ~105 px face at 720p,
# one 73 px face at 480p, and a 1080p group shot of six ~105 px faces.
SMALL_FACE_VIDEOS = {
    'small_720p': ((1280, 720), [(500, 330, 105)]),
    'small_480p': ((854, 480), [(300, 200, 73)]),
    'group_1080p': ((1920, 1080), [(250 + 290 * k, 380 + 320 * (k % 2), 100 + 2 * k)
                                   for k in range(6)]),
}
_X264 = {'preset': 'veryfast', 'crf': '23'}
# The bench's faces are synthetic, nobody's: a fixed pseudonym key, whatever is set.
BENCH_KEY = 'palsy-tfx bench key: synthetic faces of nobody'


def make_video(path, size, seconds):
  """A 30 fps clip of the astronaut's face, moving a little, at a clinic-like scale."""
  subject = Subject('bench', 2, 'yfp', 'left', seed=5)
  n = int(seconds * 30)
  write_video(path, render_frames(subject, n, size=size, face_px=size[1] * 0.33, fps=30),
              fps=30, options=_X264)


def make_small_face_video(path, size, heads, seconds):
  write_video(path, face_scenes.moving_scene(size, heads, int(seconds * 30)), fps=30,
              options=_X264)


def ours(path):
  """Our code path: ExtractFaces.process on one item, in this process. Returns frames
  with a face, seconds, and the frames on which the full-resolution pass ran."""
  item = manifest.Item(0, path, os.path.basename(path), 'bench', 2, 'yfp', 'left', 'video')
  [work] = work_list.plan([item], pseudonyms.item_ids(BENCH_KEY.encode(), [item]),
                          {'bench': 'train'})
  fn = extract.ExtractFaces({'yfp': FPS}, FPS, faces.CropSettings(), threaded=True)
  fn.setup()
  faces.detect_face(np.zeros((8, 8, 3), np.uint8))  # dlib's one-off set-up, as in a warm worker
  start = time.perf_counter()
  out = list(fn.process(work))
  elapsed = time.perf_counter() - start
  stats = json.loads(out[-1].value[1])  # the stats output: (row, JSON)
  return stats['faces'], stats['sampled'], elapsed, stats['sure_passes']


def fidelity(path):
  """Ours (FaceFinder, tracking) vs the standard (full resolution, upsample 0) on the
  same sampled frames: frames where the standard finds a face, where ours does too,
  and the IoU of the chosen boxes."""
  finder = faces.FaceFinder()
  ref_frames = both = 0
  ious = []
  for frame in frames.sample_video(path, FPS):
    mine = finder.find(frame.rgb)
    ref = faces.pick(faces.reference_faces(frame.rgb))
    if ref is not None:
      ref_frames += 1
      if mine is not None:
        both += 1
        ious.append(faces.iou(ref, mine))
  return ref_frames, both, ious


def decode_limit(path):
  """Fastest known way to get just the sampled frames as RGB, no detection: our
  sampler (PyAV skipping non-reference frames) with and without threads, or
  OpenCV grab/retrieve."""
  rates = {}
  for threaded in (True, False):
    start = time.perf_counter()
    n = sum(1 for _ in frames.sample_video(path, FPS, threaded=threaded))
    rates[f'pyav{"_threaded" if threaded else ""}'] = n / (time.perf_counter() - start)
  cap = cv2.VideoCapture(path)
  step = cap.get(cv2.CAP_PROP_FPS) / FPS
  start = time.perf_counter()
  n, i, next_i = 0, 0, 0.0
  while cap.grab():
    if i + 1e-6 >= next_i:
      _, bgr = cap.retrieve()
      cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
      n += 1
      next_i += step
    i += 1
  rates['opencv'] = n / (time.perf_counter() - start)
  return max(rates.values()), rates


def naive(path, seconds):
  """Read every frame; full-resolution colour detector(img, 1) on each sampled frame."""
  import dlib  # pylint: disable=g-import-not-at-top
  detector = dlib.get_frontal_face_detector()
  cap = cv2.VideoCapture(path)
  step = cap.get(cv2.CAP_PROP_FPS) / FPS
  n, i, next_i = 0, 0, 0.0
  start = time.perf_counter()
  while i < seconds * 30:
    ok, bgr = cap.read()
    if not ok:
      break
    if i + 1e-6 >= next_i:
      faces.pick([faces.Box(r.left(), r.top(), r.right(), r.bottom(), 0.0)
                  for r in detector(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), 1)])
      n += 1
      next_i += step
    i += 1
  return n / (time.perf_counter() - start)


def beam_run(paths, workers, work, extra_args=()):
  """The real VideoIngest executor on multi-processing DirectRunner: wall seconds, and
  the media-processing span its summary reports (first item's start to last item's
  end, on any worker), which leaves out Beam's start-up (worker processes importing
  Beam and TensorFlow, 20-40 s here and very noisy)."""
  from tfx.dsl.components.base import base_beam_executor  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from components.video_ingest import component, summary  # pylint: disable=g-import-not-at-top
  out = tempfile.mkdtemp(dir=work)
  with open(os.path.join(work, 'manifest.csv'), 'w') as f:
    f.write('path,subject_id,label,source\n')
    for k, p in enumerate(paths):
      f.write(f'{os.path.basename(p)},s{k},III,yfp\n')
  examples = standard_artifacts.Examples()
  examples.uri = out
  ctx = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=[
      '--direct_running_mode=multi_processing', f'--direct_num_workers={workers}',
      *extra_args])
  props = {'manifest': os.path.join(work, 'manifest.csv'), 'source_fps': json.dumps({'yfp': FPS}),
           'default_fps': FPS, 'split_ratios': '[0.7, 0.15, 0.15]', 'image_size': 224,
           'margin': 0.25, 'detect_width': 640, 'input_fingerprint': ''}
  os.environ.pop(pseudonyms.KEY_FILE_ENV, None)  # the executor reads the key as it runs
  os.environ[pseudonyms.KEY_ENV] = BENCH_KEY
  start = time.perf_counter()
  component.Executor(ctx).Do({}, {'examples': [examples]}, props)
  wall = time.perf_counter() - start
  with open(os.path.join(out, summary.SUMMARY_FILE)) as f:
    return wall, json.load(f)['processing_seconds']


def beam_scaling(copies, work, extra_args=()):
  """Processing seconds with 1 and 2 workers, and their ratio."""
  runs = {workers: beam_run(copies, workers, work, extra_args) for workers in (1, 2)}
  return runs[1][1] / runs[2][1], runs


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seconds', type=float, default=20.0, help='length of each test video')
  parser.add_argument('--small-seconds', type=float, default=10.0,
                      help='length of each small-face video')
  parser.add_argument('--naive-seconds', type=float, default=5.0,
                      help='the naive loop is slow: time it on the first N seconds only')
  parser.add_argument('--beam-copies', type=int, default=16,
                      help='copies of each video in the Beam manifest (enough work to share)')
  parser.add_argument('--workdir', default=None)
  args = parser.parse_args()
  work = args.workdir or tempfile.mkdtemp(prefix='palsy-bench-')
  os.makedirs(work, exist_ok=True)
  paths = {}
  for name, size in SIZES.items():
    paths[name] = os.path.join(work, f'{name}.mp4')
    if not os.path.exists(paths[name]):
      print(f'making {args.seconds:.0f} s {name} 30 fps video ...', flush=True)
      make_video(paths[name], size, args.seconds)
  for name, (size, heads) in SMALL_FACE_VIDEOS.items():
    paths[name] = os.path.join(work, f'{name}.mp4')
    if not os.path.exists(paths[name]):
      print(f'making {args.small_seconds:.0f} s {name} video ({len(heads)} small faces) ...',
            flush=True)
      make_small_face_video(paths[name], size, heads, args.small_seconds)

  rows, ratios, ious = [], {}, []
  ref_total = both_total = sampled_total = sure_total = 0
  for name, path in paths.items():
    found, sampled, seconds, sure = ours(path)
    row = {'video': name, 'ours': sampled / seconds, 'faces': f'{found}/{sampled}',
           'sure_passes': sure}
    sampled_total += sampled
    sure_total += sure
    ref_frames, both, box_ious = fidelity(path)
    row['found_where_full_res_finds'] = f'{both}/{ref_frames}'
    ious += box_ious
    if name in SIZES:  # the large-face clinic videos: speed against the references
      row['limit'], row['limit_detail'] = decode_limit(path)
      row['naive'] = naive(path, args.naive_seconds)
      ratios[name] = (row['ours'] / row['naive'], row['ours'] / row['limit'])
    else:
      ref_total += ref_frames
      both_total += both
    rows.append(row)

  print('\nsampled frames per second at 6 fps sampling (one process):')
  for r in rows:
    line = (f"  {r['video']:11s} ours {r['ours']:6.1f}/s  faces {r['faces']:7s} "
            f"full-resolution passes {r['sure_passes']:3d}  found where full resolution "
            f"finds {r['found_where_full_res_finds']}")
    if 'naive' in r:
      line += (f"\n{'':14s}naive {r['naive']:5.2f}/s  decode-only limit {r['limit']:6.1f}/s "
               f"({', '.join(f'{k} {v:.0f}' for k, v in r['limit_detail'].items())})  "
               f"ours/naive {r['ours'] / r['naive']:5.1f}x  ours/limit {r['ours'] / r['limit']:4.2f}x")
    print(line)

  copies = []
  for k in range(args.beam_copies):
    for name in SIZES:
      link = os.path.join(work, f'copy{k}-{name}.mp4')
      if not os.path.exists(link):
        os.link(paths[name], link)
      copies.append(link)
  one_thread, runs1 = beam_scaling(copies, work, ['--number_of_worker_harness_threads=1'])
  default, runs = beam_scaling(copies, work)
  for label, r in (('one thread per worker', runs1), ('default', runs)):
    print(f'VideoIngest executor on {len(copies)} videos, {label}: media processing '
          f'1 worker {r[1][1]:.1f} s, 2 workers {r[2][1]:.1f} s (wall with start-up '
          f'{r[1][0]:.1f} s and {r[2][0]:.1f} s)')
  summary = {
      'vs_naive': round(min(r[0] for r in ratios.values()), 2),
      'vs_decode_limit': round(min(r[1] for r in ratios.values()), 2),
      'workers_2_vs_1': round(one_thread, 2),
      'beam_2_vs_1_default': round(default, 2),
      'iou': round(float(np.mean(ious)), 3),
      'small_face_recall': round(both_total / max(ref_total, 1), 4),
      'fallback_rate': round(sure_total / max(sampled_total, 1), 4),
  }
  print('targets: vs_naive >= 10, vs_decode_limit >= 0.8, workers_2_vs_1 >= 1.7, iou >= 0.5, '
        'small_face_recall == 1.0')
  if not args.workdir:
    shutil.rmtree(work, ignore_errors=True)
  print(json.dumps(summary))


if __name__ == '__main__':
  main()
