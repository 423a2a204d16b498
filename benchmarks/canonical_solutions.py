"""Every benchmark's own reference solutions must pass its tests under ``plum evaluate-samples``.

Runs the CLI (cold cache) on: HumanEval's canonical solutions, MBPP+'s canonical solutions
(prompt + canonical_solution, as EvalPlus builds them), HumanEval+ (dev inputs) and the MBPP
test split's reference code, and prints passed/total per benchmark.

    python benchmarks/canonical_solutions.py --work /tmp/canonical --out benchmarks/results/canonical_solutions.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evallib import MBPP_PLUS, SHARED, humaneval_canonical_samples, run_plum, write_jsonl

HUMANEVAL_PLUS_INPUTS = SHARED / "evalplus_dev" / "humaneval_plus_inputs_dev.jsonl"
MBPP = SHARED / "mbpp" / "mbpp.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-bench-canonical"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=["humaneval", "humaneval+", "mbpp", "mbpp+"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    humaneval = humaneval_canonical_samples(args.work, copies=1)
    runs = {
        "humaneval": ["--benchmark", "humaneval", "--samples", str(humaneval)],
        "humaneval+": [
            "--benchmark",
            "humaneval+",
            "--dataset-path",
            str(HUMANEVAL_PLUS_INPUTS),
            "--samples",
            str(humaneval),
        ],
        "mbpp": [
            "--benchmark",
            "mbpp",
            "--dataset-path",
            str(MBPP),
            "--samples",
            str(mbpp_samples(args.work)),
        ],
        "mbpp+": [
            "--benchmark",
            "mbpp+",
            "--dataset-path",
            str(MBPP_PLUS),
            "--samples",
            str(mbpp_plus_samples(args.work)),
        ],
    }
    report = {}
    for name in args.only or runs:
        seconds, _, summary = run_plum(
            args.work,
            f"canonical_{name.replace('+', '_plus')}",
            [*runs[name], "--workers", str(args.workers)],
        )
        numbers = json.loads(summary.read_text())
        report[name] = {
            "samples": numbers["samples"],
            "base_passed": numbers["base_status"].get("pass", 0),
            "plus_passed": (numbers["plus_status"] or {}).get("pass"),
            "dropped_tests": numbers["dropped_tests"],
            "seconds": round(seconds, 1),
        }
        print(name, report[name], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def mbpp_plus_samples(work: Path) -> Path:
    rows = [json.loads(line) for line in MBPP_PLUS.read_text().splitlines() if line.strip()]
    return write_jsonl(
        work / "mbpp_plus_canonical.jsonl",
        [{"task_id": r["task_id"], "completion": r["canonical_solution"]} for r in rows],
    )


def mbpp_samples(work: Path) -> Path:
    rows = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()]
    test_split = [r for r in rows if 11 <= r["task_id"] <= 510]
    return write_jsonl(
        work / "mbpp_test_reference.jsonl",
        [{"task_id": f"Mbpp/{r['task_id']}", "solution": r["code"]} for r in test_split],
    )


if __name__ == "__main__":
    main()
