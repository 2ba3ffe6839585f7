"""Compile the palsy-tfx pipeline for Kubeflow Pipelines V2: ``palsy-tfx kubeflow
compile`` as a script, for checkouts without the package installed. Same options, same
code (``pipeline.cli.kubeflow``, ``pipeline.runners.kubeflow``).

This folder is deliberately not a Python package (a top-level ``kubeflow`` package
would shadow the ``kubeflow`` namespace of other distributions), so run it as a script:

  .venv/bin/python kubeflow/kubeflow_v2_runner.py --pipeline-root gs://BUCKET/root \\
      --manifest gs://BUCKET/data/manifest.csv --input-fingerprint 2024-06-01 \\
      --serving-dir gs://BUCKET/serving --image REGISTRY/palsy-tfx:TAG \\
      --gpu-image REGISTRY/palsy-tfx-gpu:TAG --output palsy-tfx.yaml
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from pipeline.cli import main as cli  # pylint: disable=g-import-not-at-top,wrong-import-position

if __name__ == '__main__':
  sys.exit(cli.main(['kubeflow', 'compile', *sys.argv[1:]]))
