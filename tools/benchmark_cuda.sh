#!/usr/bin/env bash
# The CUDA figures of docs/benchmark.md in one go, on a machine with a GPU
# and PyTorch, in a few minutes.
#
#   bash tools/benchmark_cuda.sh download DIR
#       (where pip reaches PyPI) the pure-Python wheels mmprompt needs on
#       top of torch, numpy, scipy, scikit-learn, matplotlib, opencv and
#       rich: mmengine, mmcv-lite, mmpretrain and their small dependencies
#       (about 3.5 MB), for a GPU machine that has PyTorch but no network.
#   bash tools/benchmark_cuda.sh run [--wheels DIR] [--out DIR] [-- ARGS]
#       --wheels: install those wheels into a folder of their own
#       ($TMPDIR/mmprompt-site, put first on PYTHONPATH; the machine's
#       packages are left as they are) before running.
#       Then, with fp16 autocast (--amp), batch 32, 100 prompts per layer:
#         1. ViT-B/16: prompt-free, full fine-tuning, VPT-Deep (shared
#            prefix, per image, recompute_ffn), the hand-written reference
#            and PC keep 0.3;
#         2. Swin-B without prompts and PromptSwin-B with 10 deep prompts
#            per block;
#       each writing OUT/<name>.json (default OUT: work_dirs/cuda) and its
#       table to OUT/<name>.log. ARGS go to every tools/benchmark.py call
#       after the script's own (the last value of an option wins).
#
# Environment: PYTHON (default python3); DEVICE (default cuda; cpu runs
# the same commands on the CPU, which is how the test suite checks them).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
usage="usage: bash tools/benchmark_cuda.sh download DIR | run [--wheels DIR] [--out DIR] [-- ARGS]"

# What tools/benchmark.py imports beyond a PyTorch machine's usual
# packages, at the versions requirements/ pins.
WHEELS=(
    mmengine==0.10.7 mmcv-lite==2.1.0 mmpretrain==1.2.0
    addict termcolor yapf platformdirs mat4py modelindex model-index
    ordered-set importlib-metadata lazy-importer zipp einops click markdown
)

case "${1:-}" in
download)
    [ $# -eq 2 ] || { echo "$usage" >&2; exit 2; }
    mkdir -p "$2"
    # --no-deps: the list above is the whole set; torch and the numeric
    # stack come with the GPU machine
    PIP_FIND_LINKS=' ' "$PY" -m pip download --no-deps --only-binary=:all: \
        --progress-bar off -d "$2" "${WHEELS[@]}"
    echo "benchmark_cuda.sh: wheels in $2; on the GPU machine run: bash tools/benchmark_cuda.sh run --wheels $2"
    exit 0
    ;;
run) shift ;;
*) echo "$usage" >&2; exit 2 ;;
esac

OUT=$ROOT/work_dirs/cuda
WHEEL_DIR=
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) WHEEL_DIR=${2:?--wheels needs a folder}; shift 2 ;;
        --out) OUT=${2:?--out needs a folder}; shift 2 ;;
        --) shift; break ;;
        *) echo "benchmark_cuda.sh: unknown argument '$1' ($usage)" >&2; exit 2 ;;
    esac
done

if [ -n "$WHEEL_DIR" ]; then
    shopt -s nullglob
    files=("$WHEEL_DIR"/*.whl)
    shopt -u nullglob
    if [ ${#files[@]} -eq 0 ]; then
        echo "benchmark_cuda.sh: --wheels '$WHEEL_DIR' holds no .whl file (make them with: bash tools/benchmark_cuda.sh download $WHEEL_DIR)" >&2
        exit 2
    fi
    SITE=${TMPDIR:-/tmp}/mmprompt-site
    "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade \
        --target "$SITE" "${files[@]}"
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

if [ "$DEVICE" = cuda ] && ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "benchmark_cuda.sh: $PY's torch sees no CUDA device (DEVICE=cpu runs the same commands on the CPU)" >&2
    exit 1
fi
"$PY" - <<'PYEOF'
import platform, torch
import mmcv, mmengine, mmpretrain
import mmprompt
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'
print(f'python {platform.python_version()}, torch {torch.__version__}, '
      f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmprompt {mmprompt.__version__}'
      f', GPU {gpu}')
PYEOF

mkdir -p "$OUT"
bench() {  # NAME, then benchmark.py arguments
    local name=$1
    shift
    echo "== $name"
    "$PY" "$ROOT/tools/benchmark.py" --device "$DEVICE" --amp \
        --batch-size 32 --num-prompts 100 --warmup 3 "$@" \
        --out "$OUT/$name.json" 2>&1 | tee "$OUT/$name.log"
}
bench vit-b --repeats 20 --best-of 3 --methods linear full vpt-deep \
    vpt-deep-per-image vpt-deep-reference vpt-deep-recompute-ffn pc "$@"
bench swin-b --repeats 20 --best-of 3 --methods swin vpt-deep-swin \
    --swin-arch base --swin-prompts 10 "$@"
echo "benchmark_cuda.sh: tables and JSON in $OUT"
