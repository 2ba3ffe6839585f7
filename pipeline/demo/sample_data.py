"""Built-in demo data: synthetic patients made from a real public-domain face.

This data demonstrates the pipeline; it is NOT clinical data. Every subject is the
scikit-image astronaut photograph (public domain) with its own tint, lighting, mirror
and head motion, and a one-sided droop of mouth corner and eye that grows with the
grade, so the six grades are learnable and the whole pipeline can be exercised
without patient videos.
"""
import csv
import dataclasses
import os
from typing import Dict, Iterator, List

import cv2
import numpy as np

from components.video_ingest import manifest
from pipeline import configs
from preprocessing.labels import GRADES
from preprocessing.media_writer import write_video

# Landmarks of the astronaut image (512x512), read off the picture.
_FACE_CENTER = (222.0, 127.0)
_EYES = ((202.0, 102.0), (240.0, 102.0))
_MOUTH_CORNERS = ((207.0, 143.0), (240.0, 143.0))
# One label scale per source, to show that ingest accepts them all. Numbers carry their
# scale ('HB-4'): a bare '4' is refused unless the run declares --numeric-labels.
_LABEL_WRITERS = {
    'meei': lambda g: ['Normal', 'NearNormal', 'Mild', 'Moderate', 'Severe', 'Complete'][g],
    'yfp': lambda g: ['I', 'II', 'III', 'IV', 'V', 'VI'][g],
    'stills': lambda g: f'HB-{g + 1}',
}


@dataclasses.dataclass(frozen=True)
class Subject:
  subject_id: str
  grade: int
  source: str
  side: str
  seed: int


def astronaut() -> np.ndarray:
  import skimage.data  # pylint: disable=g-import-not-at-top
  return skimage.data.astronaut()


def droop(face: np.ndarray, grade: int, side: str) -> np.ndarray:
  """Pull the mouth corner and eye of one side downwards, more for higher grades."""
  h, w = face.shape[:2]
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
  k = 0 if side == 'right' else 1  # patient's right side is the image's left
  dy = np.zeros_like(xs)
  for (cx, cy), amp, sigma in ((_MOUTH_CORNERS[k], 3.5 * grade, 18.0),
                               (_EYES[k], 2.0 * grade, 12.0)):
    dy += amp * np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * sigma**2))
  return cv2.remap(face, xs, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _appearance(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  tint = rng.uniform(0.93, 1.07, size=3)
  gamma = rng.uniform(0.9, 1.1)
  out = 255.0 * (face / 255.0)**gamma * tint
  return np.clip(out, 0, 255).astype(np.uint8)


def render_frames(subject: Subject, n_frames: int, size=(320, 240),
                  face_px: float = 110.0, fps: float = 25.0) -> Iterator[np.ndarray]:
  """Frames of one subject whose head sways and nods a little (a generator, so
  long 1080p clips never sit in memory)."""
  rng = np.random.default_rng(subject.seed)
  face = _appearance(droop(astronaut(), subject.grade, subject.side), rng)
  if rng.random() < 0.5:  # mirror: half the subjects face the other way
    face = face[:, ::-1].copy()
    cx = face.shape[1] - 1 - _FACE_CENTER[0]
  else:
    cx = _FACE_CENTER[0]
  scale = face_px / 87.0 * rng.uniform(0.9, 1.1)
  phase = rng.uniform(0, 2 * np.pi, size=3)
  for i in range(n_frames):
    t = i / fps
    angle = 3.0 * np.sin(1.3 * t + phase[0])
    shift = (8.0 * np.sin(0.9 * t + phase[1]), 5.0 * np.sin(1.1 * t + phase[2]))
    m = cv2.getRotationMatrix2D((cx, _FACE_CENTER[1]), angle, scale)
    m[:, 2] += (size[0] / 2 + shift[0] - cx, size[1] / 2 + shift[1] - _FACE_CENTER[1])
    yield cv2.warpAffine(face, m, size, flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)


def demo_subjects(per_grade: int = configs.DEFAULT_SUBJECTS_PER_GRADE) -> List[Subject]:
  """``per_grade`` subjects of every grade, ``demo-<grade>-000`` upwards.

  Plain ids are enough because ingest splits each grade on its own: from 2 per grade
  every grade has a subject in test, so every grade is evaluated, and from 3 one in
  eval too. Sources, sides and seeds alternate over the
  whole list.
  """
  subjects = []
  for grade in range(len(GRADES)):
    for k in range(per_grade):
      n = len(subjects)
      subjects.append(Subject(f'demo-{GRADES[grade]}-{k:03d}', grade, ('meei', 'yfp')[n % 2],
                              ('left', 'right')[(n // 2) % 2], seed=1000 + n))
  return subjects


def write_sample_data(output_dir: str, per_grade: int = configs.DEFAULT_SUBJECTS_PER_GRADE,
                      seconds: float = 3.0, fps: int = 25, stills_per_subject: int = 1
                      ) -> Dict[str, int]:
  """Write demo videos, stills and ``manifest.csv`` into ``output_dir``, and the marker
  (``manifest.SAMPLE_MARKER``) that makes a model trained on them say that it saw no patient."""
  os.makedirs(os.path.join(output_dir, 'videos'), exist_ok=True)
  os.makedirs(os.path.join(output_dir, 'stills'), exist_ok=True)
  rows = []
  subjects = demo_subjects(per_grade)
  for s in subjects:
    frames = list(render_frames(s, int(seconds * fps) + stills_per_subject * 7, fps=fps))
    rel = f'videos/{s.subject_id}.mp4'
    write_video(os.path.join(output_dir, rel), frames[:int(seconds * fps)], fps=fps)
    rows.append([rel, s.subject_id, _LABEL_WRITERS[s.source](s.grade), s.source, s.side])
    for j in range(stills_per_subject):
      rel = f'stills/{s.subject_id}-{j}.jpg'
      still = frames[int(seconds * fps) + 7 * j]
      cv2.imwrite(os.path.join(output_dir, rel), cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
      rows.append([rel, s.subject_id, _LABEL_WRITERS['stills'](s.grade), 'stills', s.side])
  with open(os.path.join(output_dir, 'manifest.csv'), 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['path', 'subject_id', 'label', 'source', 'side'])
    writer.writerows(rows)
  with open(os.path.join(output_dir, 'manifest.csv'), 'rb') as f:
    written = f.read()
  with open(os.path.join(output_dir, manifest.SAMPLE_MARKER), 'w') as f:
    f.write(manifest.sample_marker_text(
        written, 'Synthetic demo data made by `palsy-tfx sample-data` from the public-domain '
        'astronaut photograph of scikit-image. It is NOT clinical data: no patient is in '
        'it, and no number measured on it says anything about real patients. The digest '
        'below ties this note to the manifest written with it.'))
  return {'subjects': len(subjects), 'rows': len(rows)}
