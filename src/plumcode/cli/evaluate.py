"""``plum evaluate``: sample a model on a benchmark, execute the samples, report pass@k."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plumcode.cli.sample import add_generation_arguments, limited_problems, sample_from_args
from plumcode.config import add_arguments, from_namespace

if TYPE_CHECKING:
    from plumcode.generation import SamplingParams

EXAMPLES = """examples:
  plum evaluate --model Qwen/Qwen2.5-Coder-1.5B-Instruct --benchmark humaneval+ --greedy --out eval/he
  plum evaluate --model ./round-2 --benchmark mbpp+ --n 10 --temperature 0.8 --out eval/mbpp
  plum evaluate --model gpt-4o-mini --base-url https://api.openai.com/v1 --benchmark problems.jsonl --out eval/custom
--out gets samples.jsonl, results.jsonl, summary.json and settings.json; rerun to resume."""


def register(subparsers: argparse._SubParsersAction) -> None:
    from plumcode.evaluation import EvaluationConfig

    parser = subparsers.add_parser(
        "evaluate",
        help="sample a model on a benchmark, execute, and report pass@k",
        description="Generate samples (plum sample), execute them in the sandbox "
        "(plum evaluate-samples) and report pass@k, keeping every file in --out.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--benchmark", required=True, help="humaneval, humaneval+, mbpp, mbpp+, or a problems JSONL")
    parser.add_argument("--dataset-path", help="local data file for a named benchmark (default: its usual source)")
    parser.add_argument("--out", required=True, help="output folder (samples, results, summary)")
    parser.add_argument(
        "--greedy", action="store_true", help="EvalPlus-style greedy pass@1: n=1, temperature 0"
    )
    add_generation_arguments(parser)
    add_arguments(parser.add_argument_group("execution"), EvaluationConfig)
    parser.set_defaults(handler=run)


def sampling_params(args: argparse.Namespace) -> SamplingParams:
    """EvalPlus's defaults: greedy for one sample, temperature 0.8 for several; 768 new tokens."""
    from plumcode.generation import SamplingParams

    several = (args.n or 1) > 1 and not args.greedy
    params = from_namespace(SamplingParams, args, SamplingParams(temperature=0.8 if several else 0.0, max_new_tokens=768))
    return dataclasses.replace(params, n=1, temperature=0.0) if args.greedy else params


def run(args: argparse.Namespace) -> int:
    from plumcode.evaluation import EvaluationConfig, evaluate_samples, print_summary
    from plumcode.jsonl import write_json

    out = Path(args.out)
    params = sampling_params(args)
    problems = limited_problems(args, args.benchmark, args.dataset_path)
    _check_settings(out / "settings.json", {
        "model": args.model,
        "benchmark": args.benchmark,
        "problems": len(problems),
        "sampling": dataclasses.asdict(params),
    })
    samples = sample_from_args(args, problems, str(out / "samples.jsonl"), params)
    config = from_namespace(EvaluationConfig, args, EvaluationConfig())
    summary = evaluate_samples(problems, samples, out / "results.jsonl", config)
    summary = {"model": args.model, "benchmark": args.benchmark, "greedy": params.greedy, **summary}
    print_summary(summary)
    write_json(out / "summary.json", summary)
    return 0


def _check_settings(path: Path, settings: dict[str, Any]) -> None:
    """Resuming into a folder made with other settings would mix two runs' samples: refuse."""
    import json

    from plumcode.errors import PlumError
    from plumcode.jsonl import write_json

    settings = json.loads(json.dumps(settings))  # tuples -> lists, as they read back
    if path.exists():
        earlier = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings if earlier.get(k) != settings[k])
        if changed:
            raise PlumError(f"{path.parent}: holds a run with other {', '.join(changed)}; use another --out")
    write_json(path, settings)
