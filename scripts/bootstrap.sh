#!/usr/bin/env bash
# Create .venv with the pinned dependencies (requirements.lock) and scalelab in editable mode.
# Works on a fresh Debian machine with only Python 3.11: installs python3-venv when the venv
# module is missing (needs root or sudo, as apt-get does).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "bootstrap: $PY not found; install Python 3.11+ first" >&2; exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: scalelab needs Python >= 3.11, $PY is $("$PY" -V 2>&1)" >&2; exit 1
fi

apt_install() {
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    echo "bootstrap: the venv module is missing; installing python3-venv" >&2
    apt_install python3-venv
    "$PY" -m venv "$VENV"
  fi
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -r requirements.lock
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
touch "$VENV/.installed"
