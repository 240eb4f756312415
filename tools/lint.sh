#!/usr/bin/env bash
# flake8, isort and yapf over the code (configs/ is generated and excluded),
# as .pre-commit-config.yaml; exits non-zero on any finding. --fix rewrites
# the files with isort and yapf first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY="${MMPROMPT_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
TARGETS=(mmprompt tools tests setup.py)
if [ "${1:-}" = --fix ]; then
    "$PY" -m isort "${TARGETS[@]}"
    "$PY" -m yapf -i -r "${TARGETS[@]}"
fi
"$PY" -m flake8 "${TARGETS[@]}"
"$PY" -m isort --check-only --diff "${TARGETS[@]}"
"$PY" -m yapf --diff -r "${TARGETS[@]}"
echo "[lint] flake8, isort and yapf: clean"
