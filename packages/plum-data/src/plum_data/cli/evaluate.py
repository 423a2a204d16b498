"""``plum evaluate``: sample a model on a benchmark, execute the samples, report pass@k."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from plum_data.cli.sample import generation_options, limited_problems, sample_with
from plum_data.generation import SamplingParams
from plum_exec import config as cfg
from plum_exec.cli import benchmark_window_options, window_options
from plum_exec.command import examples
from plum_exec.evaluation import EvaluationConfig

EXAMPLES = """
plum evaluate --model Qwen/Qwen2.5-Coder-1.5B-Instruct --benchmark humaneval+ --greedy --out eval/he
plum evaluate --model ./round-2 --benchmark mbpp+ --n 10 --temperature 0.8 --out eval/mbpp
plum evaluate --model gpt-4o-mini --base-url https://api.openai.com/v1 --benchmark problems.jsonl --out eval/custom
plum evaluate --model Qwen/Qwen2.5-Coder-7B-Instruct --benchmark livecodebench --release-version release_v1 --greedy --out eval/lcb
--out gets samples.jsonl, results.jsonl, summary.json and settings.json; rerun to resume.
"""


def sampling_params(params: dict[str, Any]) -> SamplingParams:
    """EvalPlus's defaults: greedy for one sample, temperature 0.8 for several; 768 new tokens."""
    several = (params["n"] or 1) > 1 and not params["greedy"]
    base = SamplingParams(temperature=0.8 if several else 0.0, max_new_tokens=768)
    sampling = cfg.from_params(SamplingParams, params, base)
    return dataclasses.replace(sampling, n=1, temperature=0.0) if params["greedy"] else sampling


@click.command(short_help="sample a model on a benchmark, execute, and report pass@k",
               epilog=examples(EXAMPLES))  # fmt: skip
@click.option("--benchmark", required=True,
              help="humaneval, humaneval+, mbpp, mbpp+, livecodebench, or a problems JSONL")  # fmt: skip
@click.option("--dataset-path", help="local data file for a named benchmark (default: its usual source)")
@click.option("--out", required=True, help="output folder (samples, results, summary)")
@click.option("--greedy", is_flag=True, help="EvalPlus-style greedy pass@1: n=1, temperature 0")
@benchmark_window_options
@generation_options
@cfg.options(EvaluationConfig)
def evaluate(**params: Any) -> None:
    """Generate samples (plum sample), execute them in the sandbox (plum evaluate-samples) and
    report pass@k, keeping every file in --out."""
    from plum_exec.evaluation import evaluate_samples, print_summary
    from plum_exec.jsonl import write_json

    out = Path(params["out"])
    sampling = sampling_params(params)
    window = window_options(params)
    problems = limited_problems(params["limit"], params["benchmark"], params["dataset_path"], **window)
    _check_settings(out / "settings.json", {
        "model": params["model"],
        "benchmark": params["benchmark"],
        "problems": len(problems),
        **{key: value for key, value in window.items() if value is not None},
        "sampling": dataclasses.asdict(sampling),
    })  # fmt: skip
    samples = sample_with(params, problems, str(out / "samples.jsonl"), sampling)
    config = cfg.from_params(EvaluationConfig, params, EvaluationConfig())
    summary = evaluate_samples(problems, samples, out / "results.jsonl", config)
    summary = {"model": params["model"], "benchmark": params["benchmark"], "greedy": sampling.greedy, **summary}
    print_summary(summary)
    write_json(out / "summary.json", summary)


def _check_settings(path: Path, settings: dict[str, Any]) -> None:
    """Resuming into a folder made with other settings would mix two runs' samples: refuse."""
    from plum_exec.errors import PlumError
    from plum_exec.jsonl import write_json

    settings = json.loads(json.dumps(settings))  # tuples -> lists, as they read back
    if path.exists():
        earlier = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings if earlier.get(k) != settings[k])
        if changed:
            raise PlumError(f"{path.parent}: holds a run with other {', '.join(changed)}; use another --out")
    write_json(path, settings)
