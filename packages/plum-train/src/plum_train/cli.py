"""``plum-train``: KTO / DPO / SFT training of the policy with TRL (PLUM stage 3b).

Runs as is on one device, or under ``accelerate launch`` on several (docs/training.md). The same
command is ``plum train`` under the umbrella ``plum``.
"""

from __future__ import annotations

from typing import Any

import click

from plum_exec import config as cfg
from plum_exec.command import PlumGroup, examples
from plum_train.grpo import GRPOSettings
from plum_train.training import TrainConfig

EXAMPLES = """
plum-train train --method kto --model Qwen/Qwen2.5-Coder-1.5B-Instruct --data prefs/kto.jsonl --out train/
plum-train train --method dpo --no-lora --learning-rate 5e-7 --model ... --data prefs/dpo.jsonl --out train/
plum-train train --method sft --model ... --data prefs/kto.jsonl --out sft/   # passing samples only
plum-train train --method kto --model ... --data my-org/prefs@main --out train/ --push-to-hub my-org/policy-kto
plum-train train --method grpo --model ... --data prompts/ --problems tests.jsonl --num-generations 8 --out grpo/
accelerate launch --config_file configs/accelerate/zero2.yaml -m plum_train train --model ... \\
    --data prefs/kto.jsonl --out train/
"""


@click.group(cls=PlumGroup)
@click.version_option(package_name="plum-train", prog_name="plum-train")
def cli() -> None:
    """plum-train: train code models on preference data with TRL (KTO, DPO, SFT)."""


@cli.command(
    short_help="train the policy on preference data (KTO, DPO) or passing samples (SFT)",
    epilog=examples(EXAMPLES),
)
@click.option("--data", required=True,
              help="kto.jsonl (kto, sft) or dpo.jsonl (dpo) from plum prefs, or its dataset (folder or Hub "
                   "ORG/NAME[@REVISION][:CONFIG]): config kto or dpo is picked by --method")  # fmt: skip
@click.option("--out", required=True, help="output folder: checkpoints/, model/, log_history.json")
@click.option("--config", "config_path",
              help="YAML with TrainConfig fields (or a run config's 'training' section)")  # fmt: skip
@cfg.options(TrainConfig)
@cfg.options(GRPOSettings, skip=("execution",))
@click.option("--push-to-hub", "push_to_hub", metavar="REPO_ID",
              help="push the trained model (or LoRA adapter) to this Hub model repo through the trainer, "
                   "with a model card naming the data and its commit")  # fmt: skip
@click.option("--private", is_flag=True, default=False, help="create the Hub repo private")
@click.option("--hub-branch", metavar="BRANCH", help="push to this branch of the model repo")
def train(**params: Any) -> None:
    """Train with TRL's KTOTrainer, DPOTrainer or SFTTrainer (LoRA or full fine-tuning) and export
    a plain model folder to OUT/model."""
    from accelerate import PartialState

    from plum_exec.publish import push_target
    from plum_train.training import train as train_model

    target = push_target(params)
    config = cfg.from_file_and_params(TrainConfig, params["config_path"], "training", params)
    model_dir = train_model(config, params["data"], params["out"], push=target, grpo=grpo_settings(params))
    if PartialState().is_main_process:
        print(f"trained model: {model_dir}")


def grpo_settings(params: dict[str, Any]) -> GRPOSettings:
    """The flags over --config's ``grpo`` section; the judge's settings from its ``execution`` section."""
    from plum_exec.evaluation import EvaluationConfig

    values = cfg.load_yaml(params["config_path"]) if params["config_path"] else {}
    where = f"{params['config_path']} + command line" if params["config_path"] else "command line"
    execution = cfg.build(EvaluationConfig, values.get("execution", {}), where=f"{where}: execution")
    section = {**values.get("grpo", {}), **cfg.given(GRPOSettings, params), "execution": execution}
    return cfg.build(GRPOSettings, section, where=where)
