"""Per-task verdict agreement between plum and EvalPlus 0.3.1 on gpt-3.5-turbo's MBPP+ samples.

Runs both evaluators on the same data (or, with ``--reuse``, reads the results that
bench_engine_speed.py left in the same ``--work`` folder), then compares, task by task, the base
verdict and the plus verdict (base and plus both pass, EvalPlus's rule). Every disagreement is
listed with the failing tests and messages on our side, for docs/evalplus_agreement.md.

    python benchmarks/evalplus_agreement.py --work /tmp/speed --reuse --out benchmarks/results/evalplus_agreement.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evallib import MBPP_PLUS, gpt35_samples, run_evalplus, run_plum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-bench-speed"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="use results already in --work")
    parser.add_argument("--out", type=Path, help="write the comparison as JSON")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    theirs_path, ours_path = (
        args.work / "evalplus_samples_eval_results.json",
        args.work / "plum_mbpp_plus_results.jsonl",
    )
    if not (args.reuse and theirs_path.is_file() and ours_path.is_file()):
        samples = gpt35_samples(args.work)
        _, theirs_path = run_evalplus(args.work, samples, args.workers)
        dataset = [
            "--benchmark",
            "mbpp+",
            "--dataset-path",
            str(MBPP_PLUS),
            "--samples",
            str(samples),
        ]
        _, ours_path, _ = run_plum(
            args.work, "plum_mbpp_plus", [*dataset, "--workers", str(args.workers)]
        )
    report = compare(_evalplus_verdicts(theirs_path), _plum_rows(ours_path))
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def _evalplus_verdicts(path: Path) -> dict[str, tuple[bool, bool]]:
    """task_id -> (base passed, plus passed) for the first (only) sample of each task."""
    evaluation = json.loads(path.read_text())["eval"]
    return {
        task_id: (
            rows[0]["base_status"] == "pass",
            rows[0]["base_status"] == rows[0]["plus_status"] == "pass",
        )
        for task_id, rows in evaluation.items()
    }


def _plum_rows(path: Path) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["sample_id"] == 0:
            rows[row["task_id"]] = row  # the last row of a sample wins, as in plum's summary
    return rows


def compare(theirs: dict[str, tuple[bool, bool]], ours: dict[str, dict]) -> dict:
    disagreements = []
    for task_id, (base, plus) in sorted(theirs.items(), key=lambda kv: int(kv[0].split("/")[1])):
        row = ours[task_id]
        mine = (row["base_status"] == "pass", row["plus_status"] == "pass")
        if mine != (base, plus):
            failing = [
                o for o in row["base_outcomes"] + row["plus_outcomes"] if o["status"] != "pass"
            ]
            disagreements.append(
                {
                    "task_id": task_id,
                    "evalplus": {"base": base, "plus": plus},
                    "plum": {"base": row["base_status"], "plus": row["plus_status"]},
                    "plum_failed_base": row["failed_base"][:10],
                    "plum_failed_plus": row["failed_plus"][:10],
                    "plum_first_failure": failing[0] if failing else None,
                }
            )
    n = len(theirs)
    base_agree = sum(theirs[t][0] == (ours[t]["base_status"] == "pass") for t in theirs)
    plus_agree = sum(theirs[t][1] == (ours[t]["plus_status"] == "pass") for t in theirs)
    return {
        "tasks": n,
        "base_agreement": round(base_agree / n, 4),
        "plus_agreement": round(plus_agree / n, 4),
        "evalplus_pass@1": {
            "base": round(sum(b for b, _ in theirs.values()) / n, 3),
            "plus": round(sum(p for _, p in theirs.values()) / n, 3),
        },
        "plum_pass@1": {
            "base": round(sum(r["base_status"] == "pass" for r in ours.values()) / n, 3),
            "plus": round(sum(r["plus_status"] == "pass" for r in ours.values()) / n, 3),
        },
        "disagreements": disagreements,
    }


if __name__ == "__main__":
    main()
