"""``plum sample``: problems -> samples JSONL (N programs per problem, resumable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from plum_data.generation import GeneratorConfig, SamplingParams
from plum_data.prompts import PromptConfig
from plum_exec import config as cfg
from plum_exec.command import examples
from plum_exec.publish import hub_options

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = """
plum sample --model Qwen/Qwen2.5-Coder-1.5B-Instruct --problems humaneval --n 10 --temperature 0.8 \\
    --out samples.jsonl
plum sample --model gpt-4o-mini --base-url https://api.openai.com/v1 --problems problems.jsonl \\
    --out samples.jsonl   # key from $OPENAI_API_KEY
plum sample --model ./policy --problems my-org/problems@v1 --n 4 --out samples/ --push-to-hub my-org/samples
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


@click.command(short_help="sample programs for problems into a samples dataset", epilog=examples(EXAMPLES))
@click.option("--problems", required=True,
              help="benchmark name (humaneval, humaneval+, mbpp, mbpp+), problems JSONL, dataset folder "
                   "or Hub dataset ORG/NAME[@REVISION][:CONFIG[:SPLIT]]")  # fmt: skip
@click.option("--out", required=True,
              help="output folder (samples.jsonl + a Hub dataset layout), or a samples JSONL "
                   "(the dataset folder goes beside it); rerun to resume")  # fmt: skip
@generation_options
@hub_options
def sample(**params: Any) -> None:
    """Prompt a model with each problem, extract the program from each response, and append one
    row per sample (task_id, sample_id, response, solution, token counts). At the end the samples
    are written as a dataset folder (parquet + card) and, with --push-to-hub, uploaded."""
    from plum_data.sampling import SAMPLES_FILE, samples_card
    from plum_exec import publish

    target = publish.push_target(params)
    sampling = cfg.from_params(SamplingParams, params, SamplingParams())
    problems = limited_problems(params["limit"], params["problems"])
    log, folder = publish.stage_paths(params["out"], SAMPLES_FILE)
    publish.start_stage(folder)
    samples = sample_with(params, problems, str(log), sampling)
    print(f"{len(samples)} samples for {len(problems)} problems in {log}")
    record = publish.provenance("sample", inputs={"problems": params["problems"]}, models={"policy": params["model"]},
                                sampling=sampling, prompts=cfg.from_params(PromptConfig, params, PromptConfig()),
                                limit=params["limit"])  # fmt: skip
    publish.finish_stage(folder, samples_card(samples, record), target)
