"""plum prompts: problems -> the prompt-only dataset (prompt, task_id) that GRPO trains on."""

from __future__ import annotations

from pathlib import Path

from plum_data.cli import cli
from plum_exec.command import run_main
from plum_exec.datasets_io import iter_rows
from plum_exec.jsonl import read_jsonl, write_jsonl
from plumcode.demo import POLICY_DIR

PROBLEMS = [
    {"task_id": "t/0", "prompt": 'def add(a, b):\n    """Return a + b."""\n', "tests": ["assert add(1, 2) == 3"]},
    {"task_id": "t/1", "prompt": 'def neg(a):\n    """Return -a."""\n', "tests": ["assert neg(1) == -1"]},
]


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-data")


def test_chat_policy_gets_chat_prompts_without_prefill(tmp_path: Path, tiny_model_dir: Path) -> None:
    problems = tmp_path / "p.jsonl"
    write_jsonl(problems, PROBLEMS)
    assert main(["prompts", "--problems", str(problems), "--model", str(tiny_model_dir), "--out", str(tmp_path / "out")]) == 0
    rows = list(read_jsonl(tmp_path / "out" / "prompts.jsonl"))
    assert [r["task_id"] for r in rows] == ["t/0", "t/1"]
    messages = rows[0]["prompt"]
    assert [m["role"] for m in messages] == ["user"]  # GRPOTrainer opens the assistant turn itself
    assert "```\ndef add(a, b):" in messages[0]["content"] and "self-contained Python script" in messages[0]["content"]
    # The dataset folder is what `plum train --method grpo --data OUT` reads (config prompts).
    published = [row for _, row in iter_rows(str(tmp_path / "out"), default_config="prompts")]
    assert published == rows


def test_base_policy_continues_the_problems_own_prompt(tmp_path: Path) -> None:
    problems = tmp_path / "p.jsonl"
    write_jsonl(problems, PROBLEMS)
    assert main(["prompts", "--problems", str(problems), "--model", str(POLICY_DIR), "--out", str(tmp_path / "out")]) == 0
    rows = list(read_jsonl(tmp_path / "out" / "prompts.jsonl"))
    assert rows == [{"prompt": p["prompt"], "task_id": p["task_id"]} for p in PROBLEMS]
