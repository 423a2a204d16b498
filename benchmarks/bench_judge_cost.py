"""The cost of judging outside the program's process, as a ratio: this tree against an earlier one.

Runs ``plum evaluate-samples`` on HumanEval's canonical solutions x20 (3,280 programs) with the
sandbox of ``--before`` (a git revision, exported with ``git archive``) and of this working tree,
alternating, ``--rounds`` times each, every run from a cold cache. Alternating spreads what else
runs on the machine over both sides; the ratio of the medians is the number to read.

    python benchmarks/bench_judge_cost.py --before main --out benchmarks/results/judge_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from evallib import REPO, _fresh, humaneval_canonical_samples, timed

PACKAGES = ("src", "packages/plum-exec/src", "packages/plum-data/src", "packages/plum-train/src")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="main", help="git revision to compare against")
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-bench-judge"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=20, help="samples per HumanEval task")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    trees = {"before": export(args.before, args.work / "before"), "after": REPO}
    samples = humaneval_canonical_samples(args.work, args.copies)
    report: dict = {
        "before": args.before,
        "after": git("rev-parse", "HEAD").strip() + (" + changes" if git("status", "--porcelain") else ""),
        "programs": args.copies * 164,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
    }
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    passed: dict[str, list[int]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for side, tree in trees.items():
            took, count = run(tree, samples, args.work / side, args.workers)
            seconds[side].append(round(took, 2))
            passed[side].append(count)
            print(side, round(took, 1), "s", count, "passed", file=sys.stderr)
    report.update(
        seconds=seconds,
        passed=passed,
        median_seconds={side: statistics.median(s) for side, s in seconds.items()},
        ratio_after_over_before=round(statistics.median(seconds["after"]) / statistics.median(seconds["before"]), 2),
        load_after=os.getloadavg(),
    )
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def git(*command: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *command], capture_output=True, text=True, check=True).stdout


def export(revision: str, folder: Path) -> Path:
    """The revision's files in ``folder`` (a plain copy: no worktree, nothing checked out)."""
    _fresh(folder)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def run(tree: Path, samples: Path, work: Path, workers: int) -> tuple[float, int]:
    """One cold-cache ``plum evaluate-samples`` with ``tree``'s packages first on the path."""
    work.mkdir(parents=True, exist_ok=True)
    out, summary = work / "results.jsonl", work / "summary.json"
    out.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "plum_exec", "evaluate-samples", "--benchmark", "humaneval",
        "--samples", str(samples), "--workers", str(workers), "--out", str(out), "--summary", str(summary),
    ]  # fmt: skip
    env = {
        "XDG_CACHE_HOME": str(_fresh(work / "cache")),
        "PYTHONPATH": os.pathsep.join(str(tree / p) for p in PACKAGES),
    }
    took = timed(command, env, work / "run.log")
    return took, json.loads(summary.read_text())["base_status"].get("pass", 0)


if __name__ == "__main__":
    main()
