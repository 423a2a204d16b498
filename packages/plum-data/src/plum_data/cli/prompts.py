"""``plum prompts``: problems -> the prompts dataset ``plum train --method grpo`` trains on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plum_data.prompts import PromptConfig
from plum_exec import config as cfg
from plum_exec.command import examples
from plum_exec.publish import hub_options

EXAMPLES = """
plum prompts --problems tests.jsonl --model Qwen/Qwen2.5-Coder-1.5B-Instruct --out prompts/
plum prompts --problems mbpp --dataset-path mbpp.jsonl --model ./policy --out prompts/ --push-to-hub my-org/prompts
"""


@click.command(short_help="problems -> prompts dataset for online RL (GRPO)", epilog=examples(EXAMPLES))
@click.option("--problems", required=True,
              help="benchmark name, problems JSONL (testgen's output), dataset folder or Hub dataset")  # fmt: skip
@click.option("--dataset-path", help="local data file for a benchmark name")
@click.option("--model", required=True, help="the policy: its chat template decides chat or completion prompts")
@click.option("--out", required=True, help="output folder: prompts.jsonl and the dataset (config prompts)")
@click.option("--limit", type=int, help="only the first N problems")
@cfg.options(PromptConfig)
@hub_options
def prompts(**params: Any) -> None:
    """Write one prompt per problem (the policy's chat template, or the problem's own prompt for a
    model without one) with its task_id: TRL's prompt-only format, for GRPOTrainer and the reward."""
    from plum_data.cli.sample import limited_problems
    from plum_data.rl_prompts import PROMPTS_FILE, prompts_card, write_rl_prompts
    from plum_exec import publish

    target = publish.push_target(params)
    problems = limited_problems(params["limit"], params["problems"], params["dataset_path"])
    config = cfg.from_params(PromptConfig, params, PromptConfig())
    out = Path(params["out"])
    publish.start_stage(out)
    rows = write_rl_prompts(problems, params["model"], config, out / PROMPTS_FILE)
    print(f"{len(rows)} prompts in {out / PROMPTS_FILE} ({prompts_card(rows, {}).stats['style']} style)")
    record = publish.provenance("prompts", inputs={"problems": params["problems"]}, models={"policy": params["model"]},
                                prompts=config)  # fmt: skip
    publish.finish_stage(out, prompts_card(rows, record), target)
