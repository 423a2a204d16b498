#!/usr/bin/env bash
# Does plumcode still pass with the newest releases of what it depends on? Installs them (no
# constraints.txt) into .venv-latest, runs the test suite there, and lists the versions that
# differ from constraints.txt. Not part of CI (it downloads whatever is newest); run it before
# raising a pin, and regenerate constraints.txt from a passing environment:
#   .venv-latest/bin/python -m pip freeze --exclude-editable | sed 's/+cpu//' | grep -v '^plum'
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test --latest .venv-latest
.venv-latest/bin/python -m pip freeze --exclude-editable | sed 's/+cpu//' | grep -v '^plum' \
  | sort > .venv-latest/freeze.txt
echo "versions that differ from constraints.txt:"
comm -13 <(grep -v '^#' constraints.txt | sort) .venv-latest/freeze.txt || true
.venv-latest/bin/python -m pytest "$@"
