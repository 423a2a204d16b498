"""``plum demo``'s config: the shipped YAML with paths filled in loads through the loop's reader,
``--set`` overrides apply, bad input is a one-line error, and the RFT baseline differs only in
its training method and where its tests come from."""

from __future__ import annotations

import json
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
    print_comparison,
    rft_values,
    run_seeds,
    summarize_seeds,
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


def test_compare_choices_are_the_demos_baselines() -> None:
    from plumcode.cli.demo import COMPARED
    from plumcode.demo.run import COMPARISONS

    assert list(COMPARISONS) == COMPARED


def test_seeds_give_mean_and_spread_of_each_number_and_gain() -> None:
    def comparison(start, kto):
        return {"start": dict(zip(SPLITS, start, strict=True)),
                "methods": {"kto": {"1": dict(zip(SPLITS, kto, strict=True))}}}

    summary = summarize_seeds({0: comparison((0.3, 0.2, 0.1), (0.5, 0.4, 0.2)),
                               1: comparison((0.3, 0.2, 0.1), (0.6, 0.5, 0.3)),
                               2: comparison((0.3, 0.2, 0.1), (0.7, 0.6, None))})  # fmt: skip
    assert summary["seeds"] == [0, 1, 2]
    assert summary["start"]["seen"]["mean"] == pytest.approx(0.3) and summary["start"]["seen"]["sd"] == 0.0
    seen = summary["methods"]["kto"]["1"]["seen"]
    assert seen["mean"] == pytest.approx(0.6) and seen["sd"] == pytest.approx(0.1)
    assert (seen["min"], seen["max"], seen["values"]) == (0.5, 0.7, [0.5, 0.6, 0.7])
    assert seen["gain"]["mean"] == pytest.approx(0.3) and seen["gain"]["sd"] == pytest.approx(0.1)
    unseen = summary["methods"]["kto"]["1"]["unseen"]  # a missing number is left out, not counted as 0
    assert unseen["mean"] == pytest.approx(0.25) and unseen["values"] == [0.2, 0.3, None]


def test_printed_table_shows_spread_beside_each_number() -> None:
    from rich.console import Console

    def comparison(kto):
        return {"start": {"seen": 0.3, "instructions_only": 0.2, "unseen": 0.1},
                "methods": {"kto": {"1": {"seen": kto, "instructions_only": kto, "unseen": kto}}}}

    console = Console(width=200, record=True)
    print_comparison(summarize_seeds({0: comparison(0.5), 1: comparison(0.7)}), console)
    text = console.export_text()
    assert "60.0 ± 14.1 (+30.0 ± 14.1)" in text and "30.0 ± 0.0" in text and "seeds 0, 1" in text


@pytest.fixture
def fake_loop(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``plumcode.loop.run`` replaced by a recorder that writes what a run leaves for the demo
    (tests.jsonl, a summary whose scores depend on the seed): the demo's plumbing without models."""
    import plumcode.loop
    import plumcode.report

    calls: list[dict] = []

    def fake_run(config, run_dir, force=False):
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "tests.jsonl").write_text("{}\n")
        calls.append({"dir": run_dir, "seed": config.seed, "method": config.training.method,
                      "instructions": config.instructions.problems, "generator": config.test_generator})  # fmt: skip
        gain = 0.1 * (1 + config.seed) if config.training.method != "sft" else 0.05
        return {"rounds": [{"round": r, "eval": {s: {"pass@1": 0.2 + r * gain, "n": 240} for s in SPLITS}}
                           for r in range(config.rounds + 1)]}  # fmt: skip

    monkeypatch.setattr(plumcode.loop, "run", fake_run)
    monkeypatch.setattr(plumcode.report, "write_report", lambda run_dir: None)
    return calls


def test_one_seed_runs_in_the_folder_itself_with_that_seed(tmp_path: Path, fake_loop) -> None:
    comparison = run_seeds(tmp_path, [3], overrides=["rounds=1"])
    assert [(c["dir"], c["seed"]) for c in fake_loop] == [(tmp_path, 3)]
    assert "seeds" not in comparison and comparison["methods"]["kto"]["1"]["seen"] == pytest.approx(0.6)
    assert json.loads((tmp_path / "comparison.json").read_text())["start"]["seen"] == 0.2


def test_seeds_run_in_their_folders_and_reuse_the_first_seeds_tests(tmp_path: Path, fake_loop) -> None:
    comparison = run_seeds(tmp_path, [0, 1, 2], compare=["rft"], overrides=["rounds=1"])
    runs = [(c["dir"].relative_to(tmp_path).as_posix(), c["seed"], c["method"]) for c in fake_loop]
    assert runs == [("seed_0", 0, "kto"), ("seed_0/rft", 0, "sft"), ("seed_1", 1, "kto"),
                    ("seed_1/rft", 1, "sft"), ("seed_2", 2, "kto"), ("seed_2/rft", 2, "sft")]  # fmt: skip
    assert fake_loop[0]["generator"] is not None  # the first seed synthesizes the tests
    for call in fake_loop[2:]:
        assert call["generator"] is None
    assert fake_loop[2]["instructions"] == str(tmp_path / "seed_0" / "tests.jsonl")
    assert fake_loop[3]["instructions"] == str(tmp_path / "seed_1" / "tests.jsonl")  # RFT: its own run's copy
    written = json.loads((tmp_path / "comparison.json").read_text())
    assert written["seeds"] == [0, 1, 2] == comparison["seeds"]
    kto = written["methods"]["kto"]["1"]["instructions_only"]
    assert kto["values"] == pytest.approx([0.3, 0.4, 0.5]) and kto["sd"] == pytest.approx(0.1)
    assert written["methods"]["rft"]["1"]["seen"]["sd"] == pytest.approx(0.0)
    assert (tmp_path / "plots" / "comparison.png").is_file()
    for seed in (0, 1, 2):
        assert json.loads((tmp_path / f"seed_{seed}" / "comparison.json").read_text())["methods"].keys() == {"kto", "rft"}


def test_seed_flags_reach_the_runs(tmp_path: Path, fake_loop) -> None:
    assert main(["demo", "--out", str(tmp_path), "--seed", "4", "--seeds", "2", "--rounds", "1"]) == 0
    assert [(c["dir"].name, c["seed"]) for c in fake_loop] == [("seed_4", 4), ("seed_5", 5)]


def test_seeds_must_be_positive(capsys) -> None:
    assert main(["demo", "--seeds", "0"]) == 2
    assert "Invalid value for '--seeds'" in capsys.readouterr().err


def test_overrides_of_the_method_leave_the_baseline_rft(tmp_path: Path, fake_loop) -> None:
    run_seeds(tmp_path, [0], compare=["rft"], overrides=["rounds=1", "training.method=dpo", "training.rpo_alpha=1.0"])
    assert [c["method"] for c in fake_loop] == ["dpo", "sft"]
    rft = (tmp_path / INPUTS / "demo_rft.yaml").read_text()
    assert "method: sft" in rft and "rpo_alpha" not in rft and "rounds: 1" in rft
    assert set(json.loads((tmp_path / "comparison.json").read_text())["methods"]) == {"dpo", "rft"}
