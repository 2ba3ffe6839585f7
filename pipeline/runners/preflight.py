"""What a local run checks before any work, without loading TFX or TensorFlow: the
manifest (its grades and fingerprint read here, so a bad one fails at once) and the
folders the run writes. ``palsy-tfx run`` and ``leakage`` call these before the
pipeline is built, so that a known failure answers in a second, in one line.
"""
import dataclasses
import os
from typing import Sequence

from components.video_ingest import manifest
from pipeline.options import DataOptions, ServingOptions
from preprocessing import storage


def local_data(data: DataOptions, beam_args: Sequence[str] = ()) -> DataOptions:
  """The data options with an absolute manifest path (a URI stays as it is), and with
  what the manifest tells when not given: its fingerprint (``manifest.fingerprint``:
  every media file's size and time, so a changed file reruns ingest) and the grades it
  holds. Both read the manifest, so a bad one fails here, before any work starts
  (ManifestError). ``beam_args`` carry a bucket's options (``--s3_endpoint_url``...)."""
  if storage.is_remote(data.manifest):
    storage.set_options(beam_args)
    path = data.manifest
  else:
    path = os.path.abspath(data.manifest)
  # The grades first: reading them checks the manifest (a missing one: ManifestError).
  grades = data.grades or tuple(manifest.grades_present(path, data.numeric_labels)) or None
  return dataclasses.replace(
      data, manifest=path, grades=grades,
      input_fingerprint=data.input_fingerprint or manifest.fingerprint(path))


def check_folders(pipeline_root: str, serving: ServingOptions, stop_after: str) -> None:
  """The pipeline root, and for a run that pushes the serving directory, are folders or
  can be made: checked before any work, as a ValueError naming the flag."""
  folders = [('--pipeline-root', pipeline_root)]
  if stop_after == 'push':
    folders.append(('--serving-dir', serving.serving_dir or
                    os.path.join(pipeline_root, 'serving')))
  for flag, path in folders:
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
      raise ValueError(f'{flag} {path} is a file, not a folder')
    existing = path
    while not os.path.exists(existing):
      existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
      raise ValueError(f'{flag} {path}: cannot write in {existing}')
