"""``plum sample``: problems -> samples JSONL (N programs per problem, resumable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from plum_data.generation import GeneratorConfig, SamplingParams
from plum_data.prompts import PromptConfig
from plum_exec import config as cfg
from plum_exec.command import examples

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = """
plum sample --model Qwen/Qwen2.5-Coder-1.5B-Instruct --problems humaneval --n 10 --temperature 0.8 \\
    --out samples.jsonl
plum sample --model gpt-4o-mini --base-url https://api.openai.com/v1 --problems problems.jsonl \\
    --out samples.jsonl   # key from $OPENAI_API_KEY
Rerunning the same command resumes: finished (task_id, sample_id) rows are kept.
"""


def generation_options(command: F) -> F:
    """Flags shared by ``plum sample`` and ``plum evaluate``: model, sampling, prompts."""
    for decorator in reversed([
        click.option("--limit", type=int, help="only the first N problems"),
        click.option("--chunk-size", type=int, default=32, show_default=True,
                     help="problems per generation call (and per append)"),
        cfg.options(GeneratorConfig),
        cfg.options(SamplingParams),
        cfg.options(PromptConfig),
    ]):  # fmt: skip
        command = decorator(command)
    return command


def sample_with(params: dict[str, Any], problems: dict[str, Any], out_path: str, sampling: Any) -> list[Any]:
    """Load the generator named by the flags and sample ``problems`` into ``out_path``."""
    from plum_data.generation import load_generator
    from plum_data.sampling import sample_problems

    generator = load_generator(cfg.from_params(GeneratorConfig, params))
    prompt_config = cfg.from_params(PromptConfig, params, PromptConfig())
    return sample_problems(problems, generator, sampling, out_path, prompt_config=prompt_config,
                           chunk_size=params["chunk_size"])  # fmt: skip


def limited_problems(limit: int | None, spec: str, dataset_path: str | None = None, **options: Any) -> dict[str, Any]:
    """The problems named by ``spec`` (benchmark or file; ``options``: a benchmark's release and
    date window), cut to ``--limit``."""
    from plum_data.sampling import load_problem_set
    from plum_exec.errors import PlumError

    problems = load_problem_set(spec, dataset_path, **options)
    if limit is not None:
        if limit < 1:
            raise PlumError(f"--limit must be at least 1, got {limit}")
        problems = dict(list(problems.items())[:limit])
    return problems


@click.command(short_help="sample programs for problems into a samples JSONL", epilog=examples(EXAMPLES))
@click.option("--problems", required=True,
              help="benchmark name (humaneval, humaneval+, mbpp, mbpp+) or problems JSONL")  # fmt: skip
@click.option("--out", required=True, help="samples JSONL (appended to; rerun to resume)")
@generation_options
def sample(**params: Any) -> None:
    """Prompt a model with each problem, extract the program from each response, and append one
    row per sample (task_id, sample_id, response, solution, token counts)."""
    sampling = cfg.from_params(SamplingParams, params, SamplingParams())
    problems = limited_problems(params["limit"], params["problems"])
    samples = sample_with(params, problems, params["out"], sampling)
    print(f"{len(samples)} samples for {len(problems)} problems in {params['out']}")
