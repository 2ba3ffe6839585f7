"""Segments: one long video, ingested by 2 Beam workers against 1. A video longer than a
segment (``--segment-seconds``, 60 s by default) is cut into segments that workers decode
in parallel (``components/video_ingest/segments.py``); without that, one video is one
worker's job however many workers there are.

  .venv/bin/python bench/segments.py [--seconds 240] [--segment-seconds 60]

It makes a 1080p, 30 fps video of the astronaut's face, swaying and nodding a little,
with a keyframe every 2 s (x264 ``keyint=60``, as phones and clinics' exports do), and
caches it under ``bench/.cache/``. The real VideoIngest then ingests it on TFX's
LocalDagRunner (``pipeline.runners.local.run``, ``stop_after='ingest'``, no cache) on
Beam's multi-processing DirectRunner with single-threaded workers
(``--number_of_worker_harness_threads=1``), first with 1 worker, then with 2, in one
run. Seconds are the media-processing span that ``ingest_summary.json`` reports (the
first segment's start to the last one's end, on any worker), which leaves out Beam's
start-up; wall seconds, start-up included, are printed beside them. Both runs must give
the same examples.

Last line: {"seconds", "segment_seconds", "segments", "workers_1_s", "workers_2_s",
"workers_2_vs_1", "wall_1_s", "wall_2_s", "examples", "same_examples", "pass"}
(target: workers_2_vs_1 >= 1.7 on the 240-s video; exit status 1 when a target fails)
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
from preprocessing import logs  # pylint: disable=g-import-not-at-top
logs.configure_libraries()  # before TensorFlow and Beam are imported

from components.video_ingest import limits  # pylint: disable=g-import-not-at-top

CACHE = os.path.join(ROOT, 'bench', '.cache')
SIZE = (1920, 1080)
FPS = 30
KEYFRAME_S = 2
X264 = {'preset': 'veryfast', 'crf': '23',
        'x264-params': f'keyint={KEYFRAME_S * FPS}:min-keyint={KEYFRAME_S * FPS}:scenecut=0'}
# The bench's faces are synthetic, nobody's: a fixed pseudonym key, whatever is set.
BENCH_KEY = 'palsy-tfx bench key: synthetic faces of nobody'
TARGET = 1.7


def video(seconds: float, cache: str) -> str:
  """The cached video of ``seconds``, made first if it is not there."""
  # pylint: disable=g-import-not-at-top
  from pipeline.demo.sample_data import Subject, render_frames
  from preprocessing.media_writer import write_video
  # pylint: enable=g-import-not-at-top
  path = os.path.join(cache, f'face_{SIZE[1]}p_{seconds:g}s_keyint{KEYFRAME_S * FPS}.mp4')
  if os.path.exists(path):
    return path
  os.makedirs(cache, exist_ok=True)
  print(f'making a {seconds:g} s {SIZE[1]}p {FPS} fps video (cached as {path}) ...',
        flush=True)
  start = time.perf_counter()
  partial = path + '.partial.mp4'
  subject = Subject('bench', 2, 'yfp', 'left', seed=5)
  write_video(partial, render_frames(subject, int(round(seconds * FPS)), size=SIZE,
                                     face_px=SIZE[1] * 0.33, fps=FPS),
              fps=FPS, options=X264)
  os.replace(partial, path)  # a video cut short by an interrupt is never cached
  print(f'  made in {time.perf_counter() - start:.0f} s', flush=True)
  return path


def examples_of(metadata_path: str):
  """The Examples artifact's folder, its ingest summary, and its serialised examples."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components.video_ingest import summary  # pylint: disable=g-import-not-at-top
  from pipeline.runners import artifacts  # pylint: disable=g-import-not-at-top
  examples = artifacts.newest_artifact(artifacts.sqlite_config(metadata_path), 'Examples')
  with open(os.path.join(examples.uri, summary.SUMMARY_FILE)) as f:
    ingest_summary = json.load(f)
  files = sorted(glob.glob(os.path.join(examples.uri, 'Split-*', '*.gz')))
  # Serialised again with the features in a fixed order: a map's order on the wire is
  # not fixed, and differs between worker processes.
  records = [tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
             for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]
  return ingest_summary, records


def ingest(manifest_path: str, root: str, workers: int, segment_s: float, fps: float):
  """VideoIngest alone, on ``workers`` single-threaded Beam workers: wall seconds, the
  summary, and the examples."""
  # pylint: disable=g-import-not-at-top
  from components.video_ingest import pseudonyms
  from pipeline.options import DataOptions, RuntimeOptions
  from pipeline.runners import local as local_runner
  # pylint: enable=g-import-not-at-top
  os.environ.pop(pseudonyms.KEY_FILE_ENV, None)  # the executor reads the key as it runs
  os.environ[pseudonyms.KEY_ENV] = BENCH_KEY
  beam_args = ('--direct_running_mode=multi_processing', f'--direct_num_workers={workers}',
               '--number_of_worker_harness_threads=1')
  start = time.perf_counter()
  metadata_path = local_runner.run(
      root, DataOptions(manifest_path, source_fps={'yfp': fps}, segment_seconds=segment_s),
      runtime=RuntimeOptions(beam_args=beam_args, enable_cache=False), stop_after='ingest')
  wall = time.perf_counter() - start
  ingest_summary, records = examples_of(metadata_path)
  return wall, ingest_summary, records


def digest(records) -> str:
  """The examples as a set: the same whichever worker made which segment."""
  h = hashlib.sha256()
  for record in sorted(records):
    h.update(hashlib.sha256(record).digest())
  return h.hexdigest()


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seconds', type=float, default=240.0,
                      help='length of the video (default 240: four minutes)')
  parser.add_argument('--segment-seconds', type=float, default=limits.DEFAULT_SEGMENT_S,
                      help=f'ingest --segment-seconds (default {limits.DEFAULT_SEGMENT_S:g})')
  parser.add_argument('--fps', type=float, default=6.0,
                      help='frames sampled per second (the yfp source; default 6)')
  parser.add_argument('--cache', default=CACHE, help='where the video is kept between runs')
  parser.add_argument('--workdir', default=None,
                      help='keep the manifest and both pipeline roots here (default: a '
                           'temporary folder, removed after)')
  args = parser.parse_args()
  segments = len(limits.spans(args.seconds, args.segment_seconds))
  path = video(args.seconds, args.cache)
  work = args.workdir or tempfile.mkdtemp(prefix='palsy-segments-')
  os.makedirs(work, exist_ok=True)
  media = os.path.join(work, 'data', os.path.basename(path))
  os.makedirs(os.path.dirname(media), exist_ok=True)
  if not os.path.exists(media):
    try:
      os.link(path, media)
    except OSError:
      shutil.copyfile(path, media)
  manifest_path = os.path.join(work, 'data', 'manifest.csv')
  with open(manifest_path, 'w') as f:
    f.write(f'path,subject_id,label,source\n{os.path.basename(media)},bench-0,III,yfp\n')

  runs = {}
  for workers in (1, 2):
    print(f'ingesting the {args.seconds:g} s video ({segments} segments of '
          f'{args.segment_seconds:g} s) with {workers} worker{"s" * (workers > 1)} ...',
          flush=True)
    root = os.path.join(work, f'workers-{workers}')
    shutil.rmtree(root, ignore_errors=True)
    runs[workers] = ingest(manifest_path, root, workers, args.segment_seconds, args.fps)
  if not args.workdir:
    shutil.rmtree(work, ignore_errors=True)

  (wall1, sum1, rec1), (wall2, sum2, rec2) = runs[1], runs[2]
  span1, span2 = sum1['processing_seconds'], sum2['processing_seconds']
  ratio = span1 / span2 if span2 else float('nan')
  same_count = len(rec1) == len(rec2) == sum1['faces_found'] == sum2['faces_found']
  same = same_count and digest(rec1) == digest(rec2)
  print(f'\n{args.seconds:g} s {SIZE[1]}p video, {segments} segments of '
        f'{args.segment_seconds:g} s, sampled at {args.fps:g} fps '
        f'({sum1["frames_sampled"]} frames):')
  for workers, (wall, s, records) in runs.items():
    print(f'  {workers} worker{"s" * (workers > 1)}: media processing {s["processing_seconds"]:.1f} s '
          f'(wall with start-up {wall:.1f} s), {len(records)} examples, '
          f'{len(s["failed_inputs"])} failed inputs')
  checks = [(f'2 workers vs 1 >= {TARGET}x', f'{ratio:.2f}x', ratio >= TARGET),
            ('the same number of examples (files and summaries)',
             f'{len(rec1)} and {len(rec2)}', same_count),
            ('the same examples', 'same' if same else 'different', same)]
  print('targets:')
  for target, measured, passed in checks:
    print(f'  {"PASS" if passed else "FAIL"}  {target}: {measured}')
  passed = all(ok for _, _, ok in checks)
  print(json.dumps({
      'seconds': args.seconds, 'segment_seconds': args.segment_seconds, 'segments': segments,
      'workers_1_s': span1, 'workers_2_s': span2, 'workers_2_vs_1': round(ratio, 2),
      'wall_1_s': round(wall1, 1), 'wall_2_s': round(wall2, 1), 'examples': len(rec1),
      'same_examples': same, 'pass': passed}))
  return 0 if passed else 1


if __name__ == '__main__':
  sys.exit(main())
