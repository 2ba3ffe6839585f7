"""Defaults shared by the local runner, the Kubeflow runner and the command line."""
import os

PIPELINE_NAME = 'palsy-tfx'
# Locally, Beam fans out to one worker process per core.
LOCAL_BEAM_ARGS = ['--direct_running_mode=multi_processing', '--direct_num_workers=0']
# Quality bars for a real model; the demo passes its own, lower ones (README).
DEFAULT_MIN_ACCURACY = 0.6
DEFAULT_MIN_CLASS_RECALL = 0.4


def local_metadata_path(pipeline_root: str) -> str:
  return os.path.join(pipeline_root, 'metadata.sqlite')
