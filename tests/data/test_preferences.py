"""plum prefs: PLUM's labelling rule, each PrefsConfig option, TRL's formats, and bad inputs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from plum_data.cli import cli
from plum_data.preferences import KTO_RATIO_RANGE, PrefsConfig, build_preferences, kto_weights
from plum_data.prompts import PromptConfig, chat_prompt
from plum_exec.command import run_main
from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl, write_jsonl


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-data")

# Per problem, one verdict list per sample: each string is the per-test statuses of one sample.
# "P" pass, "F" fail, "T" timeout, "I" infra_error.
MIXED = ["PPP", "PPP", "PFP", "FFF", "PPT"]
ALL_PASS = ["PP", "PP"]
NONE_PASS = ["FF", "FP"]
STATUS = {"P": "pass", "F": "fail", "T": "timeout", "I": "infra_error"}


def write_inputs(
    root: Path,
    verdicts: dict[str, list[str]],
    *,
    solutions: dict[tuple[str, int], str] | None = None,
    metadata: dict[tuple[str, int], dict[str, Any]] | None = None,
) -> tuple[Path, Path, Path]:
    """problems.jsonl, samples.jsonl, results.jsonl for the given per-sample verdicts.

    Each sample's program is distinct unless ``solutions`` says otherwise; its response wraps
    the program in prose, as a chat model's would.
    """
    solutions = solutions or {}
    metadata = metadata or {}
    problems, samples, results = [], [], []
    for task_id, per_sample in verdicts.items():
        problems.append(
            {"task_id": task_id, "prompt": f"Write f for {task_id}.", "tests": ["assert f() == 1"]}
        )
        for sample_id, tests in enumerate(per_sample):
            program = solutions.get(
                (task_id, sample_id), f"def f():\n    return {sample_id}  # {task_id}\n"
            )
            samples.append(
                {
                    "task_id": task_id,
                    "sample_id": sample_id,
                    "solution": program,
                    "response": f"Here you go:\n```python\n{program}```\n",
                    "metadata": metadata.get((task_id, sample_id), {}),
                }
            )
            outcomes = [{"status": STATUS[c], "duration": 0.01, "message": ""} for c in tests]
            statuses = {o["status"] for o in outcomes}
            base = (
                "infra_error"
                if "infra_error" in statuses
                else "pass"
                if statuses == {"pass"}
                else "fail"
            )
            results.append(
                {
                    "task_id": task_id,
                    "sample_id": sample_id,
                    "base_status": base,
                    "base_outcomes": outcomes,
                }
            )
    paths = root / "problems.jsonl", root / "samples.jsonl", root / "results.jsonl"
    for path, rows in zip(paths, (problems, samples, results), strict=True):
        write_jsonl(path, rows)
    return paths


def run_prefs(
    tmp_path: Path, verdicts: dict[str, list[str]], **options: Any
) -> tuple[list, list, dict]:
    inputs = write_inputs(tmp_path, verdicts, **options.pop("inputs", {}))
    options.setdefault("format", "standard")
    stats = build_preferences(*inputs, tmp_path / "prefs", PrefsConfig(**options))
    kto = list(read_jsonl(tmp_path / "prefs" / "kto.jsonl"))
    dpo = list(read_jsonl(tmp_path / "prefs" / "dpo.jsonl"))
    assert json.loads((tmp_path / "prefs" / "stats.json").read_text()) == stats
    return kto, dpo, stats


def labels(kto: list[dict[str, Any]]) -> dict[tuple[str, int], bool]:
    return {(r["task_id"], r["sample_id"]): r["label"] for r in kto}


def test_plum_rule_all_tests_pass_is_desirable(tmp_path):
    kto, dpo, stats = run_prefs(tmp_path, {"mixed": MIXED, "all": ALL_PASS, "none": NONE_PASS})
    assert labels(kto) == {
        ("mixed", 0): True, ("mixed", 1): True, ("mixed", 2): False, ("mixed", 3): False, ("mixed", 4): False,
        ("all", 0): True, ("all", 1): True, ("none", 0): False, ("none", 1): False,
    }  # fmt: skip
    # The completion is the raw response (prose and fence included), not the extracted program.
    row = next(r for r in kto if (r["task_id"], r["sample_id"]) == ("mixed", 0))
    assert row["completion"].startswith("Here you go:\n```python\ndef f():")
    assert row["prompt"] == "Write f for mixed."
    # DPO: every (pass, fail) pair of the mixed problem, none from uniform problems.
    assert {(r["chosen_id"], r["rejected_id"]) for r in dpo} == {
        (c, r) for c in (0, 1) for r in (2, 3, 4)
    }
    assert {r["task_id"] for r in dpo} == {"mixed"}
    assert (stats["problems_mixed"], stats["problems_all_pass"], stats["problems_none_pass"]) == (
        1,
        1,
        1,
    )
    assert (stats["kto_desirable"], stats["kto_undesirable"], stats["dpo_pairs"]) == (4, 5, 6)


def test_each_text_goes_where_its_verdict_says(tmp_path):
    """Rows carry texts, not only ids: each KTO completion is its own sample's response with that
    sample's verdict as label; each DPO chosen text is a passing sample's, each rejected text a
    failing one's. The verdicts here come from the inputs, not from the code under test."""
    verdicts = {"mixed": MIXED, "other": ["FP", "PP", "FF"]}
    kto, dpo, _ = run_prefs(tmp_path, verdicts, dedup=False)
    samples = {(r["task_id"], r["sample_id"]): r for r in read_jsonl(tmp_path / "samples.jsonl")}
    passed = {key: set(verdicts[key[0]][key[1]]) == {"P"} for key in samples}
    by_text = {s["response"]: key for key, s in samples.items()}
    assert len(by_text) == len(samples)  # every response names one sample
    assert len(kto) == len(samples)
    for row in kto:
        key = by_text[row["completion"]]
        assert key == (row["task_id"], row["sample_id"])
        assert row["label"] is passed[key]
    assert dpo
    for row in dpo:
        chosen, rejected = by_text[row["chosen"]], by_text[row["rejected"]]
        assert passed[chosen] and not passed[rejected]
        assert (chosen, rejected) == ((row["task_id"], row["chosen_id"]), (row["task_id"], row["rejected_id"]))


def test_without_per_test_outcomes_the_label_is_the_base_status(tmp_path):
    """Results written without ``base_outcomes`` (only a status) still label by their verdict."""
    inputs = write_inputs(tmp_path, {"mixed": ["P", "F", "P", "T"]})
    results = list(read_jsonl(inputs[2]))
    for row in results:
        del row["base_outcomes"]
    write_jsonl(inputs[2], results)
    build_preferences(*inputs, tmp_path / "prefs", PrefsConfig(format="standard"))
    kto = list(read_jsonl(tmp_path / "prefs" / "kto.jsonl"))
    assert labels(kto) == {("mixed", 0): True, ("mixed", 1): False, ("mixed", 2): True, ("mixed", 3): False}
    assert {r["pass_fraction"] for r in kto} == {0.0, 1.0}


def test_pass_threshold_accepts_partial_passes(tmp_path):
    kto, dpo, _ = run_prefs(tmp_path, {"mixed": MIXED}, pass_threshold=0.6)
    # 2/3 passing (samples 2 and 4) now clears the bar; 0/3 does not.
    assert labels(kto) == {("mixed", i): i != 3 for i in range(5)}
    assert {r["rejected_id"] for r in dpo} == {3}


def test_infra_errors_never_become_training_data(tmp_path):
    verdicts = {"mixed": ["PPP", "PIP", "FFF", "IPP"]}
    kto, dpo, stats = run_prefs(tmp_path, verdicts)
    assert set(labels(kto)) == {("mixed", 0), ("mixed", 2)}
    assert {(r["chosen_id"], r["rejected_id"]) for r in dpo} == {(0, 2)}
    assert stats["samples_infra_error"] == 2


def test_samples_without_results_are_skipped_and_counted(tmp_path):
    problems, samples, results = write_inputs(tmp_path, {"mixed": MIXED})
    write_jsonl(results, list(read_jsonl(results))[:3])
    stats = build_preferences(
        problems, samples, results, tmp_path / "prefs", PrefsConfig(format="standard")
    )
    assert stats["samples_not_executed"] == 2
    assert stats["kto_rows"] == 3


def test_dedup_keeps_one_sample_per_program(tmp_path):
    same = "def f():\n    return 1\n"
    solutions = {("mixed", 0): same, ("mixed", 1): "def f():\n\n    return 1   \n"}
    kto, dpo, stats = run_prefs(tmp_path, {"mixed": MIXED}, inputs={"solutions": solutions})
    assert ("mixed", 1) not in labels(kto) and stats["samples_duplicate"] == 1
    assert {r["chosen_id"] for r in dpo} == {0}
    kto, _, stats = run_prefs(
        tmp_path, {"mixed": MIXED}, inputs={"solutions": solutions}, dedup=False
    )
    assert ("mixed", 1) in labels(kto) and stats["samples_duplicate"] == 0


def test_uniform_problems_kept_for_kto_unless_dropped(tmp_path):
    verdicts = {"mixed": MIXED, "all": ALL_PASS, "none": NONE_PASS}
    kto, _, _ = run_prefs(tmp_path, verdicts)
    assert {r["task_id"] for r in kto} == {"mixed", "all", "none"}
    kto, dpo, _ = run_prefs(tmp_path, verdicts, kto_drop_uniform=True)
    assert {r["task_id"] for r in kto} == {"mixed"}
    assert {r["task_id"] for r in dpo} == {"mixed"}


def test_cap_per_problem_keeps_both_labels_and_spreads_pairs(tmp_path):
    verdicts = {"big": ["PP"] * 3 + ["FF"] * 6}
    kto, dpo, _ = run_prefs(tmp_path, verdicts, max_per_problem=4)
    assert len(kto) == 4 and Counter(r["label"] for r in kto) == {True: 2, False: 2}
    # Uncapped there are 3 x 6 = 18 pairs; a cap of 4 uses 3 chosen and 4 distinct rejected.
    assert len(dpo) == 4
    assert len({r["chosen_id"] for r in dpo}) == 3 and len({r["rejected_id"] for r in dpo}) == 4


@pytest.mark.parametrize(("n_pass", "n_fail"), [(1, 4), (2, 3), (4, 6), (5, 2), (3, 3)])
def test_uncapped_pairs_are_the_full_cross_product(tmp_path, n_pass, n_fail):
    _, dpo, _ = run_prefs(tmp_path, {"p": ["P"] * n_pass + ["F"] * n_fail})
    pairs = [(r["chosen_id"], r["rejected_id"]) for r in dpo]
    assert sorted(pairs) == [(c, n_pass + r) for c in range(n_pass) for r in range(n_fail)]


def test_downsample_balances_labels(tmp_path):
    kto, _, stats = run_prefs(tmp_path, {"mixed": MIXED, "none": NONE_PASS}, balance="downsample")
    assert Counter(r["label"] for r in kto) == {True: 2, False: 2}
    assert "kto_weights" not in stats


def test_kto_weights_follow_the_kto_paper_rule(tmp_path):
    _, _, stats = run_prefs(tmp_path, {"mixed": MIXED, "none": NONE_PASS})
    w = stats["kto_weights"]
    ratio = (
        w["desirable_weight"]
        * stats["kto_desirable"]
        / (w["undesirable_weight"] * stats["kto_undesirable"])
    )
    assert KTO_RATIO_RANGE[0] <= ratio <= KTO_RATIO_RANGE[1]
    assert (
        w["undesirable_weight"] < 1.0 == w["desirable_weight"]
    )  # 2 vs 5: the majority is down-weighted


@pytest.mark.parametrize("n_desirable", [1, 3, 10, 11, 13, 14, 40, 1000])
def test_kto_weights_ratio_in_range_and_at_most_one(n_desirable):
    w = kto_weights(n_desirable, 10)
    ratio = w["desirable_weight"] * n_desirable / (w["undesirable_weight"] * 10)
    assert KTO_RATIO_RANGE[0] <= ratio <= KTO_RATIO_RANGE[1]
    assert max(w.values()) == 1.0


def test_shuffle_mixes_rows_deterministically(tmp_path):
    verdicts = {f"p{i}": MIXED for i in range(6)}
    ordered, _, _ = run_prefs(tmp_path, verdicts, shuffle=False)
    assert [r["task_id"] for r in ordered] == sorted(
        r["task_id"] for r in ordered
    )  # grouped by problem
    shuffled, _, _ = run_prefs(tmp_path, verdicts, seed=1)
    again, _, _ = run_prefs(tmp_path, verdicts, seed=1)
    other, _, _ = run_prefs(tmp_path, verdicts, seed=2)
    key = [(r["task_id"], r["sample_id"]) for r in shuffled]
    assert sorted(key) == sorted((r["task_id"], r["sample_id"]) for r in ordered)
    assert key != [(r["task_id"], r["sample_id"]) for r in ordered]
    assert key == [(r["task_id"], r["sample_id"]) for r in again]
    assert key != [(r["task_id"], r["sample_id"]) for r in other]


def test_conversational_rows_when_the_model_has_a_chat_template(tmp_path, tiny_model_dir):
    kto, dpo, stats = run_prefs(
        tmp_path, {"mixed": MIXED}, format="auto", model=str(tiny_model_dir)
    )
    assert stats["format"] == "conversational"
    # Without a recorded prompt: what plum sample sends a chat model by default.
    assert (
        kto[0]["prompt"] == chat_prompt("Write f for mixed.", PromptConfig(), prefill=False).prompt
    )
    assert [m["role"] for m in kto[0]["prompt"]] == ["user"] and "Write f for mixed." in kto[0][
        "prompt"
    ][0]["content"]
    assert kto[0]["completion"][0]["role"] == "assistant"
    assert (
        [m["role"] for m in dpo[0]["chosen"]]
        == ["assistant"]
        == [m["role"] for m in dpo[0]["rejected"]]
    )


def test_standard_rows_when_the_model_has_no_chat_template(tmp_path, tiny_model_dir):
    import shutil

    from transformers import AutoTokenizer

    plain = Path(shutil.copytree(tiny_model_dir, tmp_path / "plain-model"))
    (plain / "chat_template.jinja").unlink()
    tokenizer = AutoTokenizer.from_pretrained(plain)
    assert tokenizer.chat_template is None
    kto, _, stats = run_prefs(tmp_path, {"mixed": MIXED}, format="auto", model=str(plain))
    assert stats["format"] == "standard" and isinstance(kto[0]["prompt"], str)


def test_recorded_prompt_is_used_without_its_prefill_turn(tmp_path):
    seen = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Solve it in a fence."},
        {"role": "assistant", "content": "Here you go:\n"},  # the response starts with it already
    ]
    metadata = {("mixed", i): {"prompt": seen} for i in range(5)}
    kto, dpo, _ = run_prefs(
        tmp_path, {"mixed": MIXED}, format="conversational", inputs={"metadata": metadata}
    )
    assert all(r["prompt"] == seen[:2] for r in kto + dpo)
    samples = {r["sample_id"]: r["response"] for r in read_jsonl(tmp_path / "samples.jsonl")}
    assert all(
        r["completion"] == [{"role": "assistant", "content": samples[r["sample_id"]]}] for r in kto
    )


def test_recorded_prompt_must_match_the_format(tmp_path):
    metadata = {("mixed", 0): {"prompt": "def f():"}}
    with pytest.raises(
        PlumError,
        match="'mixed'/0: its recorded prompt is plain text, but the data format is conversational",
    ):
        run_prefs(
            tmp_path, {"mixed": MIXED}, format="conversational", inputs={"metadata": metadata}
        )
    kto, _, _ = run_prefs(
        tmp_path, {"mixed": MIXED}, format="standard", inputs={"metadata": metadata}
    )
    assert {r["sample_id"]: r["prompt"] for r in kto}[0] == "def f():"


def test_output_loads_with_datasets(tmp_path):
    from datasets import load_dataset

    run_prefs(tmp_path, {"mixed": MIXED, "all": ALL_PASS}, format="conversational")
    kto = load_dataset("json", data_files=str(tmp_path / "prefs" / "kto.jsonl"), split="train")
    dpo = load_dataset("json", data_files=str(tmp_path / "prefs" / "dpo.jsonl"), split="train")
    assert {"prompt", "completion", "label"} <= set(kto.column_names) and len(kto) == 7
    assert {"prompt", "chosen", "rejected"} <= set(dpo.column_names) and len(dpo) == 6
    assert sum(kto["label"]) == 4 and kto[0]["prompt"][0]["role"] == "user"


# --- bad input: one-line errors naming the file and line or field -------------------------------


def break_line(path: Path, lineno: int, change: Any) -> None:
    rows = list(read_jsonl(path))
    change(rows[lineno - 1])
    write_jsonl(path, rows)


@pytest.mark.parametrize(
    ("which", "change", "message"),
    [
        ("samples", lambda r: r.pop("response"), "samples.jsonl:2: missing field 'response'"),
        (
            "samples",
            lambda r: r.update(task_id="nope"),
            "samples.jsonl:2: task_id 'nope' is not in the problems file",
        ),
        (
            "samples",
            lambda r: r.update(metadata={"prompt": 3}),
            "samples.jsonl:2: metadata.prompt must be",
        ),
        (
            "results",
            lambda r: r.update(sample_id=99),
            "results.jsonl:2: no sample 'mixed'/99 in the samples file",
        ),
        (
            "results",
            lambda r: r.update(sample_id=0),
            "results.jsonl:2: duplicate result for 'mixed'/0",
        ),
        ("results", lambda r: r.pop("base_status"), "results.jsonl:2: missing field 'base_status'"),
        (
            "results",
            lambda r: r.update(base_status="ok"),
            "results.jsonl:2: unknown base_status 'ok'",
        ),
        (
            "results",
            lambda r: r.update(base_outcomes=[{"verdict": "pass"}]),
            "results.jsonl:2: bad result row",
        ),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, which, change, message):
    inputs = dict(
        zip(
            ("problems", "samples", "results"),
            write_inputs(tmp_path, {"mixed": MIXED}),
            strict=True,
        )
    )
    break_line(inputs[which], 2, change)
    with pytest.raises(PlumError, match=message.replace("(", r"\(")) as info:
        build_preferences(*inputs.values(), tmp_path / "out", PrefsConfig(format="standard"))
    assert "\n" not in str(info.value)


def test_malformed_json_names_file_and_line(tmp_path):
    problems, samples, results = write_inputs(tmp_path, {"mixed": MIXED})
    results.write_text(results.read_text().replace('"base_status"', "base_status", 1))
    with pytest.raises(PlumError, match=r"results.jsonl:1: malformed JSON"):
        build_preferences(
            problems, samples, results, tmp_path / "out", PrefsConfig(format="standard")
        )


def test_auto_format_needs_a_model(tmp_path):
    inputs = write_inputs(tmp_path, {"mixed": MIXED})
    with pytest.raises(PlumError, match="format=auto needs --model"):
        build_preferences(*inputs, tmp_path / "out", PrefsConfig())
    with pytest.raises(PlumError, match="missing: no such model folder") as info:
        build_preferences(*inputs, tmp_path / "out", PrefsConfig(model=str(tmp_path / "missing")))
    assert "\n" not in str(info.value)


def test_cli_writes_data_and_prints_stats(tmp_path, capsys):
    problems, samples, results = write_inputs(tmp_path, {"mixed": MIXED})
    config = tmp_path / "prefs.yaml"
    config.write_text("prefs:\n  format: standard\n  max_per_problem: 2\n")
    argv = [
        "prefs",
        "--problems",
        str(problems),
        "--samples",
        str(samples),
        "--results",
        str(results),
    ]
    assert (
        main([*argv, "--out", str(tmp_path / "out"), "--config", str(config), "--seed", "3"]) == 0
    )
    assert "DPO pairs" in capsys.readouterr().out
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert (stats["kto_rows"], stats["dpo_pairs"], stats["config"]["seed"]) == (2, 2, 3)


def test_cli_bad_option_is_one_line_error(tmp_path, capsys):
    problems, samples, results = write_inputs(tmp_path, {"mixed": MIXED})
    argv = [
        "prefs",
        "--problems",
        str(problems),
        "--samples",
        str(samples),
        "--results",
        str(results),
    ]
    assert (
        main(
            [*argv, "--out", str(tmp_path / "out"), "--format", "standard", "--pass-threshold", "0"]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("plum-data: error: command line: pass_threshold must be in (0, 1]")
        and "\n" not in err
    )
