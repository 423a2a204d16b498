"""``plum sample``: problems -> samples JSONL (N programs per problem, resumable)."""

from __future__ import annotations

import argparse
from typing import Any

from plumcode.config import add_arguments, from_namespace

EXAMPLES = """examples:
  plum sample --model Qwen/Qwen2.5-Coder-1.5B-Instruct --problems humaneval --n 10 --temperature 0.8 \\
      --out samples.jsonl
  plum sample --model gpt-4o-mini --base-url https://api.openai.com/v1 --problems problems.jsonl \\
      --out samples.jsonl   # key from $OPENAI_API_KEY
Rerunning the same command resumes: finished (task_id, sample_id) rows are kept."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="sample programs for problems into a samples JSONL",
        description="Prompt a model with each problem, extract the program from each response, "
        "and append one row per sample (task_id, sample_id, response, solution, token counts).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--problems", required=True, help="benchmark name (humaneval, humaneval+, mbpp, mbpp+) or problems JSONL")
    parser.add_argument("--out", required=True, help="samples JSONL (appended to; rerun to resume)")
    add_generation_arguments(parser)
    parser.set_defaults(handler=run)


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``plum sample`` and ``plum evaluate``: model, sampling, prompts."""
    from plumcode.generation import GeneratorConfig, SamplingParams
    from plumcode.prompts import PromptConfig

    parser.add_argument("--limit", type=int, help="only the first N problems")
    parser.add_argument("--chunk-size", type=int, default=32, help="problems per generation call (and per append)")
    add_arguments(parser.add_argument_group("model"), GeneratorConfig)
    add_arguments(parser.add_argument_group("sampling"), SamplingParams)
    add_arguments(parser.add_argument_group("prompts"), PromptConfig)


def sample_from_args(args: argparse.Namespace, problems: dict[str, Any], out_path: str, params: Any) -> list[Any]:
    """Load the generator named by the flags and sample ``problems`` into ``out_path``."""
    from plumcode.generation import GeneratorConfig, load_generator
    from plumcode.prompts import PromptConfig
    from plumcode.sampling import sample_problems

    generator_config = from_namespace(GeneratorConfig, args)
    prompt_config = from_namespace(PromptConfig, args, PromptConfig())
    generator = load_generator(generator_config)
    return sample_problems(problems, generator, params, out_path, prompt_config=prompt_config, chunk_size=args.chunk_size)


def limited_problems(args: argparse.Namespace, spec: str, dataset_path: str | None = None) -> dict[str, Any]:
    """The problems named by ``spec`` (benchmark or file), cut to ``--limit``."""
    from plumcode.errors import PlumError
    from plumcode.sampling import load_problem_set

    problems = load_problem_set(spec, dataset_path)
    if args.limit is not None:
        if args.limit < 1:
            raise PlumError(f"--limit must be at least 1, got {args.limit}")
        problems = dict(list(problems.items())[: args.limit])
    return problems


def run(args: argparse.Namespace) -> int:
    from plumcode.generation import SamplingParams

    params = from_namespace(SamplingParams, args, SamplingParams())
    problems = limited_problems(args, args.problems)
    samples = sample_from_args(args, problems, args.out, params)
    print(f"{len(samples)} samples for {len(problems)} problems in {args.out}")
    return 0
