"""``plum testgen`` on the command line: the real transformers backend with the tiny local model,
YAML + flags, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plum_data.cli import cli
from plum_exec.command import run_main
from plum_exec.problems import load_problems_jsonl


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-data")


def write_mbpp(path: Path) -> Path:
    rows = [
        {"task_id": n, "text": text, "code": "", "test_list": []}
        for n, text in [
            (601, "Write a function to add two numbers."),
            (602, "Write a function to reverse a string."),
            (603, "Write a function to square a number."),
        ]
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_testgen_runs_the_tiny_model_end_to_end_from_yaml_and_flags(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = tmp_path / "testgen.yaml"
    config.write_text(
        f"instructions:\n  mbpp: {write_mbpp(tmp_path / 'mbpp.jsonl')}\n  split: train\n  limit: 3\n"
        f"generator:\n  model: {tiny_model_dir}\n  backend: transformers\n"
        "testgen:\n  max_new_tokens: 12\n  n_tests: 2\nsandbox:\n  workers: 1\n"
    )
    out = tmp_path / "tests.jsonl"
    assert main(["testgen", "--config", str(config), "--limit", "2", "--out", str(out)]) == 0

    # What a random model writes is anyone's guess; the bookkeeping is not.
    stats = json.loads(out.with_suffix(".stats.json").read_text())
    assert stats["problems_in"] == 2 and stats["problems_finished"] == 2
    assert stats["problems_kept"] + sum(stats["problems_dropped"].values()) == 2
    log_rows = [json.loads(line) for line in out.with_suffix(".log.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in log_rows] == ["Mbpp/601", "Mbpp/602"]
    assert len(load_problems_jsonl(out)) == stats["problems_kept"]

    # Rerunning finds everything done and leaves the outputs as they were.
    before = out.read_text()
    assert main(["testgen", "--config", str(config), "--limit", "2", "--out", str(out)]) == 0
    assert out.read_text() == before
    assert len(out.with_suffix(".log.jsonl").read_text().splitlines()) == 2


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("plum-data: error: ") and "\n" not in err
    return err


def test_bad_input_gives_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out.jsonl")
    missing = str(tmp_path / "missing.jsonl")
    assert missing in one_line_error(
        capsys, ["testgen", "--generator-model", "m", "--mbpp", missing, "--out", out]
    )
    mbpp = str(write_mbpp(tmp_path / "mbpp.jsonl"))
    assert "exactly one instruction source" in one_line_error(
        capsys,
        ["testgen", "--generator-model", "m", "--mbpp", mbpp, "--problems", mbpp, "--out", out],
    )
    assert "model is required" in one_line_error(capsys, ["testgen", "--mbpp", mbpp, "--out", out])
    assert "n_references > 1 needs temperature > 0" in one_line_error(
        capsys,
        ["testgen", "--generator-model", "m", "--mbpp", mbpp, "--n-references", "2", "--out", out],
    )
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("sampling:\n  n: 3\n")
    assert "unknown section(s) sampling" in one_line_error(
        capsys, ["testgen", "--config", str(yaml_file), "--out", out]
    )
    yaml_file.write_text("testgen:\n  n_test: 3\n")
    assert "unknown option(s) n_test" in one_line_error(
        capsys,
        [
            "testgen",
            "--config",
            str(yaml_file),
            "--generator-model",
            "m",
            "--mbpp",
            mbpp,
            "--out",
            out,
        ],
    )
    assert "no such model folder" in one_line_error(
        capsys,
        [
            "testgen",
            "--generator-model",
            str(tmp_path / "nope"),
            "--backend",
            "transformers",
            "--mbpp",
            mbpp,
            "--split",
            "all",
            "--out",
            out,
        ],
    )
    assert not Path(out).exists()


def test_unreachable_hub_dataset_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    argv = [
        "testgen",
        "--generator-model",
        "m",
        "--hf-dataset",
        "no-such-user/no-such-data",
        "--out",
        str(tmp_path / "o.jsonl"),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "plum_data", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(
        "plum-data: error: no-such-user/no-such-data: cannot load dataset split 'train'"
    )
    assert len(proc.stderr.strip().splitlines()) == 1
