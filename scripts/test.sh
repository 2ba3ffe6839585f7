#!/usr/bin/env bash
# Set up and run the test suite. --fast leaves out the tests marked slow (pytest.ini): the
# developer's loop; CI and the README run everything. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
lane=()
if [[ "${1:-}" == "--fast" ]]; then
  shift
  lane=(-m "not slow")
fi
bash scripts/setup.sh
# The evidence report is tested in a real headless browser: Debian's Chromium.
if ! command -v chromium >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]]; then
    echo "[test] installing Chromium (Debian package) for the report's browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "[test] Chromium is missing and this is not root: the browser tests will fail;" \
         "install it with: sudo apt-get install --no-install-recommends chromium" >&2
  fi
fi
.venv/bin/python -m pytest tests ${lane[@]+"${lane[@]}"} "$@"
