"""Extraction on real responses: gpt-3.5-turbo's greedy MBPP+ answers (EvalPlus's dev data).

Each row holds the whole chat response (``full_content``) and the program EvalPlus evaluated
(``completion``). We extract our own program from ``full_content`` and compare:
  1. structurally: how many programs are identical / AST-equivalent to ``completion``;
  2. by execution (plum_exec.evaluation, MBPP+ base and plus tests): pass@1 of both, which
     must agree within 1 point.
With ``--evalplus-sanitizer`` (needs evalplus + tree-sitter), EvalPlus's own sanitizer
(longest parseable block first) is scored too, for reference.

    python benchmarks/extraction_gpt35.py --evalplus-sanitizer --summary benchmarks/results/extraction_gpt35.json

Samples and per-sample results go to --out (default .benchmarks/extraction_gpt35, git-ignored);
rerunning resumes from them. The summary is written to --out and, with --summary, there too.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from pathlib import Path

from plum_exec.errors import PlumError
from plum_exec.evaluation import EvaluationConfig, evaluate_samples
from plum_exec.extraction import extract_code
from plum_exec.jsonl import read_jsonl, write_json, write_jsonl
from plum_exec.problems import load_benchmark
from plum_exec.problems.ground_truth import attach_ground_truth
from plum_exec.records import Problem, Sample
from plum_exec.sandbox import Sandbox

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "evalplus_dev"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("PLUMCODE_SHARED_DATA", DEFAULT_DATA.parent)) / "evalplus_dev")
    parser.add_argument("--out", type=Path, default=Path(".benchmarks/extraction_gpt35"), help="samples and results")
    parser.add_argument("--summary", type=Path, help="also write the summary JSON here")
    parser.add_argument("--limit", type=int, help="only the first N responses")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--structure-only", action="store_true", help="skip execution")
    parser.add_argument("--evalplus-sanitizer", action="store_true", help="also score EvalPlus's sanitizer")
    args = parser.parse_args()

    problems = load_benchmark("mbpp+", args.data_dir / "mbpp_plus_dev.jsonl")
    rows = list(read_jsonl(args.data_dir / "mbpp_chatgpt_t0_samples.jsonl"))[: args.limit]
    variants = {
        # EvalPlus joins prompt and completion with a newline (evalplus/sanitize.py); MBPP+
        # prompts end without one.
        "completion": [_sample(r, problems, problems[_task(r)].prompt + "\n" + r["completion"]) for r in rows],
        "extracted": [_sample(r, problems, extract_code(r["full_content"], problems[_task(r)].entry_point)) for r in rows],
    }
    if args.evalplus_sanitizer:
        from evalplus.sanitize import sanitize as evalplus_sanitize

        variants["evalplus_sanitize"] = [
            _sample(r, problems, evalplus_sanitize(r["full_content"], problems[_task(r)].entry_point)) for r in rows
        ]
    summary: dict = {"responses": len(rows), "structure": _structure(rows, variants["extracted"])}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, samples in variants.items():
        write_jsonl(args.out / f"{name}_samples.jsonl", [s.to_dict() for s in samples])
    if not args.structure_only:
        config = EvaluationConfig(workers=args.workers)
        used, broken = _runnable({s.task_id: problems[s.task_id] for s in variants["completion"]}, config)
        summary["excluded_broken_references"] = broken
        for name, samples in variants.items():
            kept = [s for s in samples if s.task_id in used]
            result = evaluate_samples(used, kept, args.out / f"{name}_results.jsonl", config)
            summary[name] = {"base": result["base"], "plus": result["plus"], "excluded_infra_errors": result["excluded_infra_errors"]}
        summary["difference_points"] = {
            split: round(100 * (summary["extracted"][split]["pass@1"] - summary["completion"][split]["pass@1"]), 2)
            for split in ("base", "plus")
        }
    write_json(args.out / "summary.json", summary)
    if args.summary:
        write_json(args.summary, summary)
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 0


def _runnable(problems: dict[str, Problem], config: EvaluationConfig) -> tuple[dict[str, Problem], dict[str, str]]:
    """Problems whose reference passes its own tests (ground truth is cached for the real run);
    the others cannot score anything and are left out of both sides."""
    broken = {}
    with Sandbox(config.sandbox_config()) as sandbox:
        for task_id, problem in problems.items():
            try:
                attach_ground_truth({task_id: problem}, sandbox)
            except PlumError as exc:
                broken[task_id] = str(exc)
    return {t: p for t, p in problems.items() if t not in broken}, broken


def _task(row: dict) -> str:
    return f"Mbpp/{row['task_id']}"


def _sample(row: dict, problems: dict[str, Problem], program: str) -> Sample:
    return Sample(task_id=_task(row), sample_id=0, solution=program, response=row["full_content"])


def _structure(rows: list[dict], ours: list[Sample]) -> dict:
    """Our programs against the ``completion`` programs, as text and as syntax trees."""
    pairs = [(row["completion"], sample) for row, sample in zip(rows, ours, strict=True)]
    identical = sum(theirs.strip() == sample.solution.strip() for theirs, sample in pairs)
    different = [sample.task_id for theirs, sample in pairs if _ast(theirs) != _ast(sample.solution)]
    return {"identical": identical, "ast_equivalent": len(pairs) - len(different), "different_tasks": different}


def _ast(program: str) -> str | None:
    try:
        return ast.dump(ast.parse(program))
    except SyntaxError:
        return None


if __name__ == "__main__":
    sys.exit(main())
