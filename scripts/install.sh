#!/usr/bin/env bash
# Install plumcode into ./.venv. On a machine without an NVIDIA GPU, install a CPU build of
# PyTorch first so pip never pulls the multi-GB CUDA build.
#   scripts/install.sh          # the package
#   scripts/install.sh --test   # plus the test extras
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[[ "${1:-}" == "--test" ]] && extras="[test]"

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip

if ! python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    python -m pip install -q torch
  else
    # A CPU wheel at hand (a wheelhouse named by PIP_FIND_LINKS, as on our CI machines) wins;
    # otherwise PyTorch's CPU index.
    torch_cpu="${PLUMCODE_TORCH_CPU:-torch==2.13.0+cpu}"
    python -m pip install -q "$torch_cpu" 2>/dev/null \
      || python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu \
           --extra-index-url https://pypi.org/simple
  fi
fi

python -m pip install -q -e ".${extras}"
command -v bwrap >/dev/null 2>&1 || echo "note: install bubblewrap (apt-get install bubblewrap) for namespace isolation of executed programs" >&2
echo "plumcode installed in .venv ($(.venv/bin/plum --version))"
