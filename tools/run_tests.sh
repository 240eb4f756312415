#!/usr/bin/env bash
# Set up the environment (reusing what is built), then run the whole test
# suite. Extra arguments go to pytest. .ci/run calls exactly this.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "${MMPROMPT_VENV:-$ROOT/.venv}/bin/python" -m pytest tests "$@"
