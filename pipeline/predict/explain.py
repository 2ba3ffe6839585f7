"""Grad-CAM strips for ``palsy-tfx predict --explain DIR``: per video, a few of its face
crops side by side, each with the heatmap of its grade over it and the grade and time
under it, so that a clinician sees which regions (an eye, a mouth corner) drove a grade.

The heatmaps come from the model's ``serving_explain`` signature (``trainer.gradcam``)
through the grader that graded the video (``pipeline.predict.base.Grader``: the SavedModel
here, or TF Serving), so a strip shows the served model, through the same preprocessing. Each crop's
heatmap is for that crop's own most probable grade, which is the one printed under it.
"""
import io
import os
import sys
from typing import List, Optional, Sequence

import numpy as np

from pipeline.predict.base import Explanation, Grader
from pipeline.predict.grade import Prediction

DEFAULT_FRAMES = 6
HEAT_OPACITY = 0.5   # at the hottest point; a cold region shows the crop as it is
COLOUR_MAP = 'jet'
PANEL_INCHES = 2.0


def choose_frames(count: int, n: int = DEFAULT_FRAMES) -> List[int]:
  """Indices of up to ``n`` of ``count`` frames, evenly spread, first and last included."""
  if count <= n:
    return list(range(count))
  return sorted(set(np.linspace(0, count - 1, n).round().astype(int).tolist()))


def frame_label(grade: str, seconds: float) -> str:
  """What a strip prints under a crop: its grade and when in the video it was taken."""
  return f'{grade}\n{seconds:.2f} s'


def _decode(jpeg: bytes) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  return np.asarray(Image.open(io.BytesIO(jpeg)).convert('RGB'))


def overlay(crop: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
  """The RGB crop (uint8) with the heatmap, resized to it (bilinear), blended over it in
  colour, more opaque where hotter: where the heatmap is 0 the crop is unchanged."""
  from matplotlib import colormaps  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  height, width = crop.shape[:2]
  heat = np.asarray(Image.fromarray(np.asarray(heatmap, np.float32), mode='F').resize(
      (width, height), Image.BILINEAR)).clip(0, 1)
  colour = colormaps[COLOUR_MAP](heat)[..., :3] * 255
  weight = (HEAT_OPACITY * heat)[..., None]
  return np.round(crop * (1 - weight) + colour * weight).astype(np.uint8)


def write_strip(path_png: str, crops_jpeg: Sequence[bytes], heatmaps: np.ndarray,
                labels: Sequence[str], title: Optional[str] = None) -> None:
  """One PNG: the crops left to right, each with its heatmap over it and its label under
  it (``frame_label``), and ``title`` (say, the video and its grade) above."""
  if not len(crops_jpeg) == len(heatmaps) == len(labels) or not len(labels):
    raise ValueError(f'a strip needs as many crops, heatmaps and labels, and at least one; '
                     f'got {len(crops_jpeg)}, {len(heatmaps)} and {len(labels)}')
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  n = len(labels)
  fig, axes = plt.subplots(1, n, figsize=(PANEL_INCHES * n, PANEL_INCHES + 0.6),
                           squeeze=False, layout='constrained')
  for ax, jpeg, heatmap, label in zip(axes[0], crops_jpeg, heatmaps, labels):
    ax.imshow(overlay(_decode(jpeg), heatmap))
    ax.set_axis_off()
    ax.text(0.5, -0.03, label, transform=ax.transAxes, ha='center', va='top', fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.savefig(path_png, format='png', dpi=100)
  plt.close(fig)


def explain_video(grader: Grader, crops_jpeg: Sequence[bytes], seconds: Sequence[float],
                  path_png: str, title: Optional[str] = None, n: int = DEFAULT_FRAMES
                  ) -> Explanation:
  """``n`` evenly chosen crops of one video through ``serving_explain``, drawn as a strip
  at ``path_png``; returns their explanation."""
  chosen = choose_frames(len(crops_jpeg), n)
  crops = [crops_jpeg[i] for i in chosen]
  explanation = grader.explain(crops)
  write_strip(path_png, crops, explanation.heatmaps,
              [frame_label(g, seconds[i]) for g, i in zip(explanation.grades, chosen)], title)
  return explanation


def strip_paths(inputs: Sequence[str], out_dir: str) -> List[str]:
  """``out_dir/<input file stem>.png`` per input, in order; a stem met again (``a/v.mp4``
  and ``b/v.mp4``, ``v.mp4`` and ``v.png``) gets ``-2``, ``-3``... rather than
  overwriting."""
  paths, taken = [], set()
  for path in inputs:
    stem = os.path.splitext(os.path.basename(path))[0]
    name, count = stem, 1
    while name in taken:
      count += 1
      name = f'{stem}-{count}'
    taken.add(name)
    paths.append(os.path.join(out_dir, name + '.png'))
  return paths


def explain_prediction(grader: Grader, prediction: Prediction, path_png: str) -> Explanation:
  """The strip of one graded input, from the crops ``predict`` kept (``keep_crops``), each
  at its frame's time, titled with the file's name and grade."""
  seconds = [f.timestamp_ms / 1000 for f in prediction.frames if f.face_box is not None]
  title = f'{os.path.basename(prediction.path)}: {prediction.grade}'
  return explain_video(grader, prediction.crops, seconds, path_png, title)


def write_strips(grader: Grader, results: Sequence[Prediction], out_dir: str) -> None:
  """A strip per graded input, named on stderr; a strip that fails is reported there too
  and the others are still drawn."""
  os.makedirs(out_dir, exist_ok=True)
  for result, path in zip(results, strip_paths([r.path for r in results], out_dir)):
    if result.error is not None:
      continue
    try:
      explain_prediction(grader, result, path)
    except Exception as e:  # pylint: disable=broad-except
      print(f'[explain] {result.path}: NOT EXPLAINED: {type(e).__name__}: {e}',
            file=sys.stderr, flush=True)
      continue
    print(f'[explain] {result.path}: {path}', file=sys.stderr, flush=True)
