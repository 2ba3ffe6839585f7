"""Defaults shared by the local runner, the Kubeflow runner and the command line."""
import os

PIPELINE_NAME = 'palsy-tfx'
# Locally, Beam fans out to one worker process per core.
LOCAL_BEAM_ARGS = ['--direct_running_mode=multi_processing', '--direct_num_workers=0']
# Demo data: 8 subjects per grade split 6/1/1 (train/eval/test), so six test subjects, one
# of each grade, and enough training subjects that their looks cannot stand in for grades.
DEFAULT_SUBJECTS_PER_GRADE = 8
# Quality bars for a real model; the demo passes its own (docs/evaluation.md, "The demo's gates"; scripts/demo.sh).
DEFAULT_MIN_ACCURACY = 0.6
DEFAULT_MIN_CLASS_RECALL = 0.4
DEFAULT_MIN_SUBJECT_BALANCED_ACCURACY = 0.6
DEFAULT_MIN_SUBJECT_WITHIN_ONE = 0.9
DEFAULT_MIN_SUBJECT_CLASS_RECALL = 0.5
# A retrain may score this much lower than the last blessed model and still be blessed:
# a test set of tens of subjects moves by more than 1e-10 on noise alone.
DEFAULT_REGRESSION_TOLERANCE = 0.01
# A Kubeflow compile reads a remote manifest's label column at most this long.
DEFAULT_READ_TIMEOUT_S = 30.0


def local_metadata_path(pipeline_root: str) -> str:
  return os.path.join(pipeline_root, 'metadata.sqlite')
