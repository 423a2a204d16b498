"""``plum train``: KTO / DPO / SFT training of the policy with TRL (PLUM stage 3b).

Runs as is on one device, or under ``accelerate launch`` on several (docs/training.md).
"""

from __future__ import annotations

import argparse

from plumcode.config import add_arguments

EXAMPLES = """\
examples:
  plum train --method kto --model Qwen/Qwen2.5-Coder-1.5B-Instruct --data prefs/kto.jsonl --out train/
  plum train --method dpo --no-lora --learning-rate 5e-7 --model ... --data prefs/dpo.jsonl --out train/
  plum train --method sft --model ... --data prefs/kto.jsonl --out sft/   # passing samples only
  accelerate launch --config_file configs/accelerate/zero2.yaml -m plumcode train --model ... \\
      --data prefs/kto.jsonl --out train/
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from plumcode.training import TrainConfig

    parser = subparsers.add_parser(
        "train",
        help="train the policy on preference data (KTO, DPO) or passing samples (SFT)",
        description="Train with TRL's KTOTrainer, DPOTrainer or SFTTrainer (LoRA or full "
        "fine-tuning) and export a plain model folder to OUT/model.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", required=True, help="kto.jsonl (kto, sft) or dpo.jsonl (dpo) from plum prefs"
    )
    parser.add_argument(
        "--out", required=True, help="output folder: checkpoints/, model/, log_history.json"
    )
    parser.add_argument(
        "--config", help="YAML with TrainConfig fields (or a run config's 'training' section)"
    )
    add_arguments(parser.add_argument_group("training"), TrainConfig)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from plumcode.cli.prefs import config_from_args
    from plumcode.training import TrainConfig, train

    config = config_from_args(TrainConfig, args, "training")
    model_dir = train(config, args.data, args.out)
    if PartialState().is_main_process:
        print(f"trained model: {model_dir}")
    return 0
