#!/usr/bin/env bash
# Set up the environment (reusing what is built), then run the whole test
# suite. Extra arguments go to pytest. .ci/run calls exactly this.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup_env.sh" --profile full
# Test-only system packages: tests/test_slurm.py runs tools/slurm_train.sh
# on a real single-node Slurm that it starts and stops itself.
if [ ! -x /usr/sbin/slurmd ] || [ ! -x /usr/sbin/munged ]; then
    echo "[run_tests] installing Debian's slurm-wlm and munge"
    SUDO=
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends slurm-wlm munge
fi
cd "$ROOT"
# OpenMMLab's lint (flake8, isort, yapf; .pre-commit-config.yaml) first
bash "$ROOT/tools/lint.sh"
exec "${MMPROMPT_VENV:-$ROOT/.venv}/bin/python" -m pytest tests "$@"
