"""plum train --method grpo: TRL's GRPOTrainer rewarded by plum's sandboxed judge.

The policy is the demo's shipped 3.4M model (it passes about half of its family's tests, so
groups have reward variance); the problems are the demo family's instructions with their tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from test_training import completion_log_prob, token_ids

from plum_exec.command import run_main
from plum_exec.errors import PlumError
from plum_exec.jsonl import write_jsonl
from plum_exec.rewards import PlumTestReward
from plum_train import grpo
from plum_train.cli import cli
from plum_train.grpo import GRPOSettings
from plum_train.training import TrainConfig, train
from plumcode.demo import POLICY_DIR
from plumcode.demo.family import ProblemFamily
from plumcode.demo.sets import instruction_problems, write_problems

PROBLEMS = 6
STEPS = dict(max_steps=4, per_device_train_batch_size=8, gradient_accumulation_steps=1, warmup_steps=0,
             learning_rate=2e-4, lora=False, gradient_checkpointing=False, save_steps=2, beta=0.0)  # fmt: skip


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grpo") / "problems.jsonl"
    write_problems(path, instruction_problems(ProblemFamily())[:PROBLEMS], with_reference=False)
    return path


@pytest.fixture(scope="module")
def prompts_file(problems_file: Path) -> Path:
    """What ``plum prompts`` writes for a model without a chat template: each problem's own prompt."""
    rows = [json.loads(line) for line in problems_file.read_text().splitlines()]
    path = problems_file.with_name("prompts.jsonl")
    write_jsonl(path, [{"prompt": row["prompt"], "task_id": row["task_id"]} for row in rows])
    return path


def settings(problems_file: Path, **overrides: Any) -> GRPOSettings:
    return GRPOSettings(problems=str(problems_file), num_generations=8, max_completion_length=48, **overrides)


@pytest.fixture(scope="module")
def judged_samples(prompts_file: Path, problems_file: Path) -> dict[bool, list[tuple[str, str]]]:
    """The starting policy's own completions (8 per prompt), split by the judge into passing
    (all tests) and failing (none): the yardstick of which way training moved the policy."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = [json.loads(line) for line in prompts_file.read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(POLICY_DIR)
    model = AutoModelForCausalLM.from_pretrained(POLICY_DIR).eval()
    torch.manual_seed(1)
    pairs = []
    for row in rows:
        ids = tokenizer(row["prompt"], return_tensors="pt")
        out = model.generate(**ids, do_sample=True, temperature=1.0, max_new_tokens=48, num_return_sequences=8,
                             pad_token_id=tokenizer.pad_token_id)  # fmt: skip
        texts = tokenizer.batch_decode(out[:, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        pairs += [(row, text) for text in texts]
    with PlumTestReward(str(problems_file), all_pass=True) as reward:
        scores = reward(prompts=[r["prompt"] for r, _ in pairs], completions=[t for _, t in pairs],
                        task_id=[r["task_id"] for r, _ in pairs])  # fmt: skip
    split: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
    for (row, text), score in zip(pairs, scores, strict=True):
        split[score == 1.0].append((row["prompt"], text))
    assert len(split[True]) >= 5 and len(split[False]) >= 5, {k: len(v) for k, v in split.items()}
    return split


def margin(model_dir: Path | str, samples: dict[bool, list[tuple[str, str]]]) -> float:
    """Mean log-probability of the passing completions minus that of the failing ones."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def mean(group: list[tuple[str, str]]) -> float:
        return sum(completion_log_prob(model, *token_ids(tokenizer, p, c, False)) for p, c in group) / len(group)

    return mean(samples[True]) - mean(samples[False])


class Negated:
    """The reward with its sign flipped: training on it must move the policy the other way."""

    __name__ = "negated"

    def __init__(self, reward: PlumTestReward):
        self.reward, self.problems = reward, reward.problems

    def __call__(self, **kwargs: Any) -> list[float | None]:
        return [None if r is None else -r for r in self.reward(**kwargs)]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two trainings; minutes on a loaded 2-core machine
def test_grpo_moves_the_policy_toward_passing_completions(tmp_path, prompts_file, problems_file, judged_samples,
                                                          monkeypatch):  # fmt: skip
    """Direction, not motion: from the same start, seeds and prompts, GRPO with plum's reward leaves
    the passing completions further ahead of the failing ones than GRPO with the reward negated
    (any training sharpens the policy; only the reward's sign decides which way). The judge's
    time per step is in the log, beside the step's."""
    prompts, samples = prompts_file, judged_samples
    config = TrainConfig(method="grpo", model=str(POLICY_DIR), **STEPS)
    before = margin(POLICY_DIR, samples)
    rewarded = margin(train(config, prompts, tmp_path / "grpo", grpo=settings(problems_file)), samples)
    real = GRPOSettings.reward
    monkeypatch.setattr(GRPOSettings, "reward", lambda self: Negated(real(self)))
    negated = margin(train(config, prompts, tmp_path / "negated", grpo=settings(problems_file)), samples)
    print(f"margin passing - failing: start {before:.3f}, plum reward {rewarded:.3f}, negated {negated:.3f}")
    assert rewarded > negated, (before, rewarded, negated)
    log = json.loads((tmp_path / "grpo" / "log_history.json").read_text())
    steps = [entry for entry in log if "plum/judge_seconds" in entry]
    assert len(steps) == STEPS["max_steps"] and all(0 < e["plum/judge_seconds"] < e["step_time"] for e in steps)


def test_grpo_resumes_from_its_checkpoint(tmp_path, prompts_file, problems_file, monkeypatch):
    """A crash after the first checkpoint: the rerun resumes there (TRL's checkpoint) and finishes."""
    config = TrainConfig(method="grpo", model=str(POLICY_DIR), **{**STEPS, "max_steps": 2, "save_steps": 1})
    section = settings(problems_file)
    calls = []
    real_trainer = grpo.grpo_trainer

    def crashing(*args: Any, **kwargs: Any) -> Any:
        trainer = real_trainer(*args, **kwargs)
        step = trainer.training_step

        def training_step(*a: Any, **k: Any) -> Any:
            calls.append(trainer.state.global_step)
            if len(calls) == 2 and not resumed:
                raise KeyboardInterrupt
            return step(*a, **k)

        trainer.training_step = training_step
        return trainer

    monkeypatch.setattr(grpo, "grpo_trainer", crashing)
    resumed = False
    with pytest.raises(KeyboardInterrupt):
        train(config, prompts_file, tmp_path / "grpo", grpo=section)
    assert (tmp_path / "grpo" / "checkpoints" / "checkpoint-1").is_dir()
    resumed = True
    model_dir = train(config, prompts_file, tmp_path / "grpo", grpo=section)
    assert calls == [0, 1, 1] and (model_dir / "model.safetensors").is_file()


def test_grpo_bad_settings_are_one_line_errors(tmp_path, prompts_file, problems_file, capsys):
    base = ["train", "--method", "grpo", "--model", str(POLICY_DIR), "--data", str(prompts_file), "--out", str(tmp_path / "o")]
    assert main([*base]) != 0
    assert "--method grpo needs --problems" in capsys.readouterr().err
    assert main([*base, "--problems", str(problems_file), "--per-device-train-batch-size", "6", "--gradient-accumulation-steps", "1"]) != 0
    assert "must be a multiple of num_generations = 8" in capsys.readouterr().err
    other = tmp_path / "other.jsonl"
    write_jsonl(other, [{"task_id": "elsewhere", "prompt": "def f():\n", "tests": ["assert f() == 1"]}])
    config = TrainConfig(method="grpo", model=str(POLICY_DIR), **STEPS)
    with pytest.raises(PlumError, match="6 prompts' task_id have no problem in"):
        train(config, prompts_file, tmp_path / "x", grpo=settings(other))


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-train")
