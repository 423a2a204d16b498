"""``plum demo``'s config: the shipped YAML with paths filled in loads through the loop's reader,
``--set`` overrides apply, bad input is a one-line error, and the RFT baseline differs only in
its training method and where its tests come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from plum_exec.errors import PlumError
from plumcode.cli import main
from plumcode.demo import POLICY_DIR, TESTGEN_DIR
from plumcode.demo.family import SPLITS
from plumcode.demo.run import (
    INPUTS,
    compare_runs,
    demo_config_values,
    grpo_values,
    plot_comparison,
    rft_values,
    write_config,
)


def test_shipped_config_loads_with_the_runs_paths(tmp_path: Path) -> None:
    config = write_config(tmp_path / "demo.yaml", demo_config_values(tmp_path))
    assert config.policy.model == str(POLICY_DIR)
    assert config.test_generator is not None and config.test_generator.model == str(TESTGEN_DIR)
    assert config.instructions.problems == str(tmp_path / INPUTS / "instructions.jsonl")
    assert set(config.evaluation.splits) == set(SPLITS)
    assert config.training.method == "kto" and config.rounds == 2
    assert Path(config.testgen.prompt_template or "").is_file()


def test_overrides_apply_and_bad_ones_name_the_key(tmp_path: Path) -> None:
    values = demo_config_values(tmp_path)
    config = write_config(tmp_path / "demo.yaml", values, ["training.beta=0.5", "rounds=3"])
    assert config.training.beta == 0.5 and config.rounds == 3
    with pytest.raises(PlumError, match="training.learning_rat"):
        write_config(tmp_path / "demo.yaml", values, ["training.learning_rat=1e-4"])


def test_rft_baseline_changes_only_method_and_test_source(tmp_path: Path) -> None:
    kto = demo_config_values(tmp_path)
    rft = rft_values(kto, tmp_path)
    assert rft["training"] == {**kto["training"], "method": "sft"}
    assert rft["instructions"] == {"problems": str(tmp_path / "tests.jsonl")}
    assert "test_generator" not in rft
    assert {k: v for k, v in rft.items() if k not in ("training", "instructions")} == {
        k: v for k, v in kto.items() if k not in ("training", "instructions", "test_generator")
    }


def test_grpo_baseline_generates_the_kto_runs_programs_per_round(tmp_path: Path) -> None:
    """Same tests (the KTO run's), same programs per round: instructions x n, in groups of n."""
    kto = demo_config_values(tmp_path)
    (tmp_path / "tests.jsonl").write_text("{}\n" * 100)
    values = grpo_values(kto, tmp_path)
    config = write_config(tmp_path / "grpo.yaml", values)
    n = kto["sampling"]["n"]
    assert config.training.method == "grpo" and config.grpo.num_generations == n
    steps, batch = config.training.max_steps, config.training.per_device_train_batch_size
    assert steps * batch * config.training.gradient_accumulation_steps == 100 * n
    assert values["instructions"] == {"problems": str(tmp_path / "tests.jsonl")} and "test_generator" not in values


def test_comparison_puts_start_and_methods_side_by_side() -> None:
    def summary(scores):
        return {"rounds": [{"round": r, "eval": {s: {"pass@1": v, "n": 240} for s, v in zip(SPLITS, vals, strict=True)}}
                           for r, vals in enumerate(scores)]}

    comparison = compare_runs({"kto": summary([(0.5, 0.4, 0.3), (0.6, 0.55, 0.35)]), "rft": summary([(0.5, 0.4, 0.3), (0.55, 0.5, 0.3)])})
    assert comparison["start"] == {"seen": 0.5, "instructions_only": 0.4, "unseen": 0.3}
    assert comparison["methods"]["kto"]["1"]["instructions_only"] == 0.55
    assert comparison["methods"]["rft"]["1"]["seen"] == 0.55


def test_comparison_plot_is_written(tmp_path: Path) -> None:
    comparison = {"start": {"seen": 0.5, "instructions_only": 0.4, "unseen": 0.3},
                  "methods": {"kto": {"1": {"seen": 0.6, "instructions_only": 0.5, "unseen": 0.4}},
                              "rft": {"1": {"seen": 0.55, "instructions_only": 0.45, "unseen": None}}}}
    plot_comparison(comparison, tmp_path / "plots" / "comparison.png")
    assert (tmp_path / "plots" / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_comparison_is_refused(capsys) -> None:
    assert main(["demo", "--compare", "dpo"]) == 2
    assert "Invalid value for '--compare': 'dpo' is not one of 'rft', 'grpo'" in capsys.readouterr().err
