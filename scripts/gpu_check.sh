#!/usr/bin/env bash
# GPU check: one PLUM round on a randomly initialised Qwen2.5-Coder-0.5B-shaped model, on one
# H100/H200, in under 8 minutes; prints and writes (to $OUT, else ./gpu_check_out) generation and
# training tokens/s and peak memory against the card's bandwidth and bf16 FLOP ceilings.
#
# The GPU machine has torch, transformers, peft and accelerate but no network. Carry what it
# lacks as wheels, fetched here once:
#   scripts/gpu_check.sh --fetch-wheels        # trl, datasets and their missing deps -> .whl/
# then on the GPU machine, from the repository root (plumcode itself runs from src/):
#   scripts/gpu_check.sh                       # installs .whl/*.whl into /tmp/plum_site first
# Extra arguments go to scripts/gpu_check.py (e.g. --tiny to try the script on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

# Versions the project is tested with; the GPU machine runs Python 3.12 on x86-64.
WHEELS=(trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pyarrow==26.0.1)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
    ls -la .whl
    exit 0
fi

PYTHON=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/plum_site .whl/*.whl
    export PYTHONPATH=/tmp/plum_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1

OUT_DIR=${OUT:-gpu_check_out}
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee "$OUT_DIR/nvidia_smi.txt" || true
# Fail in seconds, not minutes, when a package is missing or too old.
"$PYTHON" -c "import torch, transformers, trl, peft, accelerate, datasets, plumcode, plumcode.loop; print('imports ok:', torch.__version__, torch.cuda.is_available())"
timeout 470 "$PYTHON" scripts/gpu_check.py --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/gpu_check.log"
