"""Media and readers shared by the archive grading tests (``test_grade_archive``, and the
portable-runner test that grades the same archive on external Beam workers)."""
import json
import os

from pipeline.predict import archive
from preprocessing.media_writer import write_video
from tests.conftest import subject_frames, write_jpeg

# Media of the graded rows: subject -> files (None: a row with no subject and no label).
GOOD = {'s1': ['s1_a.mp4', 's1_b.jpg'], 's2': ['s2.mp4'], 's3': ['s3.mp4'], None: ['d.mp4']}


def write_media(root, no_face_images) -> None:
  """Five files with a face (each subject another astronaut), a still without one and a
  text file named like a video, in the folder ``root`` (a pathlib.Path)."""
  write_video(str(root / 's1_a.mp4'), subject_frames(2, 30, seed=3), fps=25)
  write_jpeg(str(root / 's1_b.jpg'), subject_frames(2, 1, seed=4)[0])
  write_video(str(root / 's2.mp4'), subject_frames(4, 25, seed=5), fps=25)
  write_video(str(root / 's3.mp4'), subject_frames(0, 25, seed=7), fps=25)
  write_video(str(root / 'd.mp4'), subject_frames(5, 20, seed=9), fps=25)
  write_jpeg(str(root / 'coffee.png'), no_face_images['coffee'])
  (root / 'notes.mp4').write_text('clinic notes, not a video\n' * 20)


def read_lines(output_dir: str) -> dict:
  """Manifest row -> the JSON line a grading wrote for it."""
  lines = {}
  for name in sorted(os.listdir(output_dir)):
    if name.startswith(archive.GRADED) and name.endswith(archive.GRADED_SUFFIX):
      with open(os.path.join(output_dir, name)) as f:
        for line in f:
          record = json.loads(line)
          lines[record['row']] = record
  return lines
