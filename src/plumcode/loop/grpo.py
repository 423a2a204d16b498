"""``training.method: grpo``: a round is online RL over the run's problems, no sample / execute / prefs.

The run writes the prompts once (``prompts/``, as ``plum prompts`` does, in the policy's prompt
style), then each round trains the previous round's policy with TRL's GRPOTrainer, rewarded by the
run's tests (``tests.jsonl``) in the sandbox with the run's ``execution`` settings. A round's
training resumes from TRL's checkpoints; its marker (and ``summary.json``) holds the round's
rewards, the share of completions passing every test, the KL to the round's start and the time
spent judging.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plum_train.training import EXPORT_DIR, LOG_FILE
from plumcode.loop.folder import Stage

if TYPE_CHECKING:
    from plumcode.loop.stages import RunStages

PROMPTS_KEY = "prompts"
# What a GRPO round's summary holds (from its training log): written by ``training_stats``.
SUMMARY_KEYS = ("reward_first", "reward_last", "reward_mean", "pass_rate", "kl", "judge_seconds", "step_seconds")


def round_stages(loop: RunStages, round_: int) -> list[Stage]:
    """Round r's stages before its evaluation: the run's prompts (once), then GRPO training."""
    stages = [prompts_stage(loop)] if round_ == 1 else []
    return [*stages, train_stage(loop, round_)]


def prompts_folder(loop: RunStages) -> Path:
    return loop.folder.root / PROMPTS_KEY


def prompts_stage(loop: RunStages) -> Stage:
    return Stage(
        key=PROMPTS_KEY,
        outputs=[prompts_folder(loop)],
        settings={**loop.settings("prompts"), "policy": loop.config.policy.model},
        inputs=["tests"],
        action=lambda: write_prompts(loop),
    )


def write_prompts(loop: RunStages) -> dict[str, Any]:
    from plum_data.rl_prompts import PROMPTS_FILE, write_rl_prompts

    path = prompts_folder(loop) / PROMPTS_FILE
    rows = write_rl_prompts(loop.instruction_problems(), loop.policy_path(0), loop.config.prompts, path)
    return {"prompts": len(rows), "chat": bool(rows) and isinstance(rows[0]["prompt"], list)}


def train_stage(loop: RunStages, round_: int) -> Stage:
    return Stage(
        key=f"round_{round_:02d}/train",
        outputs=[loop.folder.train(round_)],
        settings={
            **loop.settings("training", "grpo", "execution"),
            "start": loop.policy_path(0) if round_ == 1 else None,
        },
        inputs=[PROMPTS_KEY, "tests", *loop.policy_inputs(round_ - 1)],
        action=lambda: train_round(loop, round_),
    )


def train_round(loop: RunStages, round_: int) -> dict[str, Any]:
    from plum_data.rl_prompts import PROMPTS_FILE
    from plum_train.training import train
    from plumcode.loop.hub import model_target
    from plumcode.loop.stages import _launch_training

    loop.release_policy()  # the GPU memory goes to training (and its generation)
    config = dataclasses.replace(loop.config.training, model=loop.policy_path(round_ - 1))
    grpo = dataclasses.replace(loop.config.grpo, problems=str(loop.folder.tests), execution=loop.config.execution)
    data, out = prompts_folder(loop) / PROMPTS_FILE, loop.folder.train(round_)
    push = model_target(loop.config, loop.folder, round_)
    if loop.config.train_launcher:
        _launch_training(loop.config.train_launcher, loop.folder.config, config.model, data, out, push,
                         extra=["--problems", grpo.problems])  # fmt: skip
    else:
        loop.call(train, config, data, out, push, grpo)
    return {"model": str(out / EXPORT_DIR), **training_stats(out)}


def training_stats(train_dir: Path) -> dict[str, Any]:
    """Steps and the round's rewards, pass rate (completions passing every test), KL and judge
    time, from the trainer's log (one entry per logged step)."""
    log = json.loads((train_dir / LOG_FILE).read_text(encoding="utf-8"))
    steps = [entry for entry in log if "reward" in entry]
    if not steps:
        return {"steps": 0}

    def mean(key: str) -> float | None:
        values = [e[key] for e in steps if isinstance(e.get(key), int | float)]
        return statistics.fmean(values) if values else None

    return {
        "steps": len(steps),
        "reward_first": steps[0]["reward"],
        "reward_last": steps[-1]["reward"],
        "reward_mean": mean("reward"),
        "pass_rate": mean("plum/all_pass"),
        "kl": mean("kl"),
        "judge_seconds": sum(e.get("plum/judge_seconds", 0.0) for e in steps),
        "step_seconds": sum(e.get("step_time", 0.0) for e in steps),
    }
