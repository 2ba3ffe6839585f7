"""How fast is an archive graded on Beam? ``palsy-tfx grade-archive``
(``pipeline.predict.archive``) on the same videos with 2 single-threaded Beam workers
against 1, and against ``predict`` grading them one by one in one process, timed side by
side in one run.

  .venv/bin/python bench/grade_archive.py [--videos 8] [--seconds 6] [--repeats 2]

The videos are 720p clips of different synthetic subjects, sampled at 6 fps, graded by a
SavedModel of the demo's architecture (dlib_resnet with the asymmetry head at 150 px,
random weights: the speed is the same) exported with the demo's crop record. Each
configuration runs in its own process (the time counts from before the model loads to
the last line written), in turn within each repeat, best of ``--repeats``; "single
threaded" sets TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS and OMP_NUM_THREADS to 1
(FFmpeg decodes in one thread on Beam workers already). ``predict`` runs once as a user
gets it (every core) and once single-threaded.

Last line: {"workers_2_vs_1": ..., "archive_1_vs_predict_1": ...}  (speed-ups; 2 cores
give at most 2)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import _common

from preprocessing.labels import GRADES

SOURCE = 'yfp'
SIZE = (1280, 720)
ONE_THREAD = {'TF_NUM_INTRAOP_THREADS': '1', 'TF_NUM_INTEROP_THREADS': '1',
              'OMP_NUM_THREADS': '1'}
# name -> (child mode, single-threaded)
CONFIGS = {'predict': ('predict', False), 'predict_1': ('predict', True),
           'archive_1': ('archive-1', True), 'archive_2': ('archive-2', True)}


def _prepare(work: str, videos: int, seconds: float) -> str:
  """Clips, a manifest and a model under ``work``; returns the manifest's path."""
  from pipeline.demo.sample_data import Subject, render_frames  # pylint: disable=g-import-not-at-top
  from preprocessing.media_writer import write_video  # pylint: disable=g-import-not-at-top
  import predict as predict_bench  # pylint: disable=g-import-not-at-top  (bench/predict.py)
  rows = ['path,subject_id,label,source']
  for i in range(videos):
    subject = Subject(f'b{i}', i % 6, SOURCE, 'left', seed=i)
    write_video(os.path.join(work, f'v{i}.mp4'),
                render_frames(subject, int(seconds * 30), size=SIZE, face_px=SIZE[1] * 0.33,
                              fps=30), fps=30, options={'preset': 'veryfast', 'crf': '23'})
    rows.append(f'v{i}.mp4,b{i},{GRADES[i % 6]},{SOURCE}')
  with open(os.path.join(work, 'manifest.csv'), 'w') as f:
    f.write('\n'.join(rows) + '\n')
  predict_bench.export_model(argparse.Namespace(model='dlib_resnet', head='asymmetry',
                                                image_size=150, alignment='five_point'),
                             os.path.join(work, 'model'))
  return os.path.join(work, 'manifest.csv')


def _child(mode: str, work: str) -> None:
  """Grade the manifest one way and print {"seconds", "graded", "frames"}."""
  manifest, model = os.path.join(work, 'manifest.csv'), os.path.join(work, 'model')
  from preprocessing import logs  # pylint: disable=g-import-not-at-top
  logs.configure_libraries()
  if mode == 'predict':
    from pipeline.predict import grade, saved_model  # pylint: disable=g-import-not-at-top
    from preprocessing import crop_settings  # pylint: disable=g-import-not-at-top
    with open(manifest) as f:
      paths = [os.path.join(work, line.split(',')[0]) for line in f.read().split('\n')[1:] if line]
    start = time.perf_counter()
    results = grade.predict_files(paths, saved_model.SavedModelGrader(model),
                                  crop_settings.from_model(model), SOURCE)
    seconds = time.perf_counter() - start
    graded, frames = sum(r.error is None for r in results), sum(r.faces_found for r in results)
  else:
    from pipeline.predict import archive  # pylint: disable=g-import-not-at-top
    out = tempfile.mkdtemp(dir=work)
    workers = mode.split('-')[1]
    start = time.perf_counter()
    summary = archive.grade_archive(manifest, model, out, [
        '--direct_running_mode=multi_processing', f'--direct_num_workers={workers}'],
        progress_interval=3600)
    seconds = time.perf_counter() - start
    graded, frames = summary['graded'], summary['faces_found']
    shutil.rmtree(out)
  print(json.dumps({'seconds': seconds, 'graded': graded, 'frames': frames}))


def _run(name: str, work: str) -> dict:
  mode, one_thread = CONFIGS[name]
  env = dict(os.environ, **(ONE_THREAD if one_thread else {}))
  env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
  done = subprocess.run([sys.executable, os.path.abspath(__file__), '--child', mode,
                         '--work', work], env=env, capture_output=True, text=True, check=False)
  if done.returncode:
    raise SystemExit(f'{name} failed:\n{done.stderr[-3000:]}')
  return json.loads(done.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--videos', type=int, default=8)
  parser.add_argument('--seconds', type=float, default=6.0)
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--child', help=argparse.SUPPRESS)
  parser.add_argument('--work', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    _child(args.child, args.work)
    return
  work = tempfile.mkdtemp()
  _prepare(work, args.videos, args.seconds)
  best = {name: None for name in CONFIGS}
  for _ in range(args.repeats):
    for name in CONFIGS:
      got = _run(name, work)
      if best[name] is None or got['seconds'] < best[name]['seconds']:
        best[name] = got
  counts = {(b['graded'], b['frames']) for b in best.values()}
  assert len(counts) == 1, f'the configurations graded different inputs: {best}'
  graded, frames = counts.pop()
  for name, b in best.items():
    print(f'{name:10s} {b["seconds"]:7.1f} s  {graded / b["seconds"]:.2f} videos/s  '
          f'{frames / b["seconds"]:.1f} frames/s')
  shutil.rmtree(work)
  print(json.dumps({
      'workers_2_vs_1': round(best['archive_1']['seconds'] / best['archive_2']['seconds'], 3),
      'archive_1_vs_predict_1': round(best['predict_1']['seconds'] / best['archive_1']['seconds'], 3),
      'archive_2_vs_predict': round(best['predict']['seconds'] / best['archive_2']['seconds'], 3),
      'seconds': {name: round(b['seconds'], 2) for name, b in best.items()},
      'videos': graded, 'frames': frames, 'cpus': os.cpu_count()}))


if __name__ == '__main__':
  main()
