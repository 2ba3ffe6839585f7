#!/usr/bin/env bash
# Create .venv/ from requirements.lock with a Python 3.10 interpreter and install palsy-tfx.
# TFX 1.16 supports only Python < 3.11, so a 3.10 interpreter is required.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
  local candidates=()
  [[ -n "${PALSY_PYTHON:-}" ]] && candidates+=("$PALSY_PYTHON")
  command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
  if command -v pyenv >/dev/null 2>&1; then
    local v
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -rV); do
      candidates+=("$(pyenv prefix "$v")/bin/python3.10")
    done
  fi
  candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10 python3)
  local c
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; then
      echo "$c"; return 0
    fi
  done
  return 1
}

PY="$(find_python310)" || {
  echo "error: palsy-tfx needs Python 3.10 (TFX 1.16 supports only Python < 3.11)." >&2
  echo "  Install one (e.g. 'pyenv install 3.10.13') or set PALSY_PYTHON=/path/to/python3.10." >&2
  exit 1
}
echo "[setup] using $PY ($("$PY" -V 2>&1))"

UV_VERSION=0.9.5
if command -v uv >/dev/null 2>&1; then
  UV=uv
else
  if [[ ! -x .tools/uv/bin/uv ]]; then
    echo "[setup] installing uv $UV_VERSION into .tools/"
    "$PY" -m pip install --quiet --disable-pip-version-check --target .tools/uv "uv==$UV_VERSION"
  fi
  UV=.tools/uv/bin/uv
fi

if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
  "$UV" venv --quiet --python "$PY" .venv
fi
echo "[setup] installing the locked stack into .venv/"
"$UV" pip sync --quiet --python .venv/bin/python requirements.lock
"$UV" pip install --quiet --python .venv/bin/python --no-deps -e .
echo "[setup] ready: .venv/bin/palsy-tfx"
