#!/usr/bin/env bash
# The offline demo, end to end: environment, assets, VPT-Deep and the linear
# probe on DINOv2 ViT-S/14 + Fashion-MNIST, evaluation and a summary.
# Extra arguments go to tools/demo/run_demo.py (e.g. --methods vpt-deep).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup_env.sh" --profile light
cd "$ROOT"
exec "${MMPROMPT_VENV:-$ROOT/.venv}/bin/python" tools/demo/run_demo.py "$@"
