#!/usr/bin/env bash
# Set up, write the built-in demo data (synthetic, NOT clinical) and run the whole pipeline
# on it at a reduced size, ending with a blessed model pushed for TF Serving.
# The demo's quality gates are deliberately low: see "The demo" in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/palsy-tfx sample-data --output data/sample
.venv/bin/palsy-tfx run --manifest data/sample/manifest.csv --pipeline-root runs/sample \
  --model demo --image-size 64 --ingest-image-size 128 \
  --min-accuracy 0.1 --min-class-recall 0.0 "$@"
