"""plum run with training.method: grpo: prompts once, then a round is GRPO rewarded by the run's tests.

The policy is the demo's shipped model on its family's problems (given tests, no test generator):
it passes some of them, so GRPO's groups have reward variance and the weights move.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from plum_exec.errors import PlumError
from plumcode.demo import POLICY_DIR
from plumcode.demo.family import ProblemFamily
from plumcode.demo.sets import eval_problems, instruction_problems, write_problems
from plumcode.loop import RunFolder, run, run_config_from_dict
from plumcode.report import write_report

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def problem_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("grpo-loop")
    family = ProblemFamily()
    write_problems(folder / "train.jsonl", instruction_problems(family)[:4], with_reference=False)
    write_problems(folder / "seen.jsonl", eval_problems(family, "seen")[:4], with_reference=True)
    return folder / "train.jsonl", folder / "seen.jsonl"


def grpo_config(train: Path, seen: Path, **training: object) -> dict[str, object]:
    return {
        "policy": {"model": str(POLICY_DIR), "batch_size": 8},
        "instructions": {"problems": str(train)},
        "execution": {"workers": 2},
        "training": {
            "method": "grpo", "lora": False, "gradient_checkpointing": False, "max_steps": 2,
            "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1, "learning_rate": 1e-4,
            "warmup_steps": 0, "save_steps": 1, "beta": 0.05, **training,
        },
        "grpo": {"num_generations": 8, "max_completion_length": 48},
        "evaluation": {"splits": {"seen": str(seen)}, "sampling": {"max_new_tokens": 48}},
        "rounds": 1,
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a GRPO round and two evaluations; minutes on a loaded 2-core machine
def test_a_grpo_round_trains_reports_and_resumes(tmp_path, problem_files):
    config = run_config_from_dict(grpo_config(*problem_files))
    summary = run(config, tmp_path / "run", console=QUIET)
    folder = RunFolder(tmp_path / "run")
    assert not folder.samples(1).exists() and not folder.prefs(1).exists()  # no offline stages
    assert (folder.root / "prompts" / "prompts.jsonl").is_file()
    round_1 = summary["rounds"][1]
    assert round_1["round"] == 1 and set(round_1["eval"]) == {"seen"}
    stats = round_1["train"]
    assert 0.0 <= stats["reward_first"] <= 1.0 and 0.0 <= stats["pass_rate"] <= 1.0
    assert stats["kl"] is not None and stats["kl"] >= 0.0
    assert 0 < stats["judge_seconds"] < stats["step_seconds"]
    marker = json.loads(folder.marker("round_01/train").read_text())
    assert marker["stats"]["steps"] == 2
    page = write_report(folder.root, console=QUIET).read_text()
    assert "GRPO reward (first -&gt; last), all-pass, KL" in page
    assert (folder.plots / "training.png").is_file()

    # Resume: nothing is redone; a changed GRPO setting names the stages it would redo.
    mtime = folder.marker("round_01/train").stat().st_mtime
    run(config, folder.root, console=QUIET)
    assert folder.marker("round_01/train").stat().st_mtime == mtime
    changed = grpo_config(*problem_files)
    changed["grpo"] = {"num_generations": 4, "max_completion_length": 48}
    with pytest.raises(PlumError, match="round_01/train"):
        run(run_config_from_dict(changed), folder.root, console=QUIET)


def test_the_loop_owns_the_reward_problems(problem_files):
    values = grpo_config(*problem_files)
    values["grpo"] = {"problems": "elsewhere.jsonl"}
    with pytest.raises(PlumError, match="grpo.problems: is set by the loop each round"):
        run_config_from_dict(values)
