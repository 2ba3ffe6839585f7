#!/usr/bin/env bash
# Set up, write the built-in demo data (synthetic, NOT clinical) and run the pipeline on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/palsy-tfx sample-data --output data/sample
.venv/bin/palsy-tfx run --manifest data/sample/manifest.csv --pipeline-root runs/sample "$@"
