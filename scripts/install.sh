#!/usr/bin/env bash
# Install plumcode's four packages (editable) into ./.venv, at the versions the test suite passed
# with (constraints.txt). On a machine without an NVIDIA GPU, a CPU build of PyTorch goes in first
# so pip never pulls the multi-GB CUDA build.
#   scripts/install.sh                  # the packages
#   scripts/install.sh --test           # plus the test extras
#   scripts/install.sh --latest [VENV]  # the newest releases instead of constraints.txt (default .venv-latest)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="" venv=".venv" constraints=(-c constraints.txt)
for arg in "$@"; do
  case "$arg" in
    --test) extras="[test]" ;;
    --latest) constraints=(--upgrade) venv=".venv-latest" ;;
    --*) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
    *) venv="$arg" ;;
  esac
done

python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip

if ! "$py" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$py" -m pip install -q "${constraints[@]}" torch
  else
    # A CPU wheel at hand (a wheelhouse named by PIP_FIND_LINKS, as on our CI machines) wins;
    # otherwise PyTorch's CPU index.
    torch_cpu="${PLUMCODE_TORCH_CPU:-torch==2.13.0+cpu}"
    "$py" -m pip install -q "$torch_cpu" 2>/dev/null \
      || "$py" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu \
           --extra-index-url https://pypi.org/simple
  fi
fi

"$py" -m pip install -q "${constraints[@]}" -e packages/plum-exec -e "packages/plum-data[hf]" \
  -e packages/plum-train -e ".${extras}"
command -v bwrap >/dev/null 2>&1 || echo "note: install bubblewrap (apt-get install bubblewrap) for namespace isolation of executed programs" >&2
echo "plumcode installed in $venv ($("$venv/bin/plum" --version))"
