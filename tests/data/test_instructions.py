"""Instruction sources for ``plum testgen``: custom problems, MBPP's text, Hugging Face datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plum_data.instructions import (
    InstructionsConfig,
    from_hf_dataset,
    from_mbpp,
    from_problems,
    load_instructions,
)
from plum_exec.config import build
from plum_exec.errors import PlumError


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mbpp_row(number: int, text: str) -> dict:
    return {
        "task_id": number,
        "text": text,
        "code": "def f(): pass",
        "test_list": ["assert f() is None"],
    }


def test_mbpp_keeps_only_the_text_of_the_chosen_split(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mbpp.jsonl",
        [
            mbpp_row(5, "prompt split"),
            mbpp_row(600, "validation"),
            mbpp_row(601, " Write a function to add. "),
        ],
    )
    train = from_mbpp(path, "train")
    assert [(i.task_id, i.text, i.entry_point, i.prompt) for i in train] == [
        ("Mbpp/601", "Write a function to add.", None, None)
    ]
    assert [i.task_id for i in from_mbpp(path, "all")] == ["Mbpp/5", "Mbpp/600", "Mbpp/601"]


def test_mbpp_errors_name_the_line_or_the_split(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mbpp.jsonl", [mbpp_row(1, "ok"), {"task_id": 2}])
    with pytest.raises(PlumError, match=r"mbpp.jsonl:2: missing field 'text'"):
        from_mbpp(path)
    with pytest.raises(PlumError, match="unknown MBPP split 'dev'"):
        from_mbpp(path, "dev")


def test_custom_problems_keep_their_entry_point_prompt_and_setup(tmp_path: Path) -> None:
    row = {
        "task_id": "t/1",
        "prompt": "def double(x):\n    '''Return twice x.'''\n",
        "entry_point": "double",
        "tests": ["assert double(2) == 4"],
        "setup": "import math",
    }
    (instruction,) = from_problems(write_jsonl(tmp_path / "p.jsonl", [row]))
    assert instruction.entry_point == "double"
    assert instruction.prompt == row["prompt"] == instruction.text
    assert instruction.setup == "import math"


def test_hf_dataset_from_local_jsonl_with_field_mapping(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "oss.jsonl",
        [{"problem": "Sort a list.", "uid": 7}, {"problem": "Reverse a string.", "uid": 9}],
    )
    by_id = from_hf_dataset(str(path), "problem", "uid")
    assert [(i.task_id, i.text) for i in by_id] == [
        ("7", "Sort a list."),
        ("9", "Reverse a string."),
    ]
    numbered = from_hf_dataset(str(path), "problem")
    assert [i.task_id for i in numbered] == ["oss/0", "oss/1"]


def test_hf_dataset_from_parquet(tmp_path: Path) -> None:
    import datasets

    path = tmp_path / "evol.parquet"
    datasets.Dataset.from_list([{"instruction": "Add two numbers.", "output": "..."}]).to_parquet(
        str(path)
    )
    (instruction,) = from_hf_dataset(str(path), "instruction")
    assert instruction.text == "Add two numbers."


def test_hf_dataset_errors_are_one_line(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"instruction": "x", "id": 1}, {"instruction": "", "id": 2}]
    )
    with pytest.raises(PlumError, match=r"no column 'problem' \(columns: instruction, id\)"):
        from_hf_dataset(str(path), "problem")
    with pytest.raises(PlumError, match="row 1: field 'instruction' is empty"):
        from_hf_dataset(str(path), "instruction")
    bad = tmp_path / "d.txt"
    bad.write_text("x")
    with pytest.raises(PlumError, match="unsupported dataset file type"):
        from_hf_dataset(str(bad), "instruction")
    dup = write_jsonl(
        tmp_path / "dup.jsonl", [{"instruction": "a", "id": 1}, {"instruction": "b", "id": 1}]
    )
    with pytest.raises(PlumError, match="duplicate task_id '1'"):
        from_hf_dataset(str(dup), "instruction", "id")


def test_config_needs_exactly_one_source_and_applies_limit(tmp_path: Path) -> None:
    with pytest.raises(PlumError, match="exactly one instruction source"):
        build(InstructionsConfig, {}, where="cfg.yaml")
    with pytest.raises(PlumError, match="got problems, mbpp"):
        build(InstructionsConfig, {"problems": "a", "mbpp": "b"}, where="cfg.yaml")
    path = write_jsonl(tmp_path / "mbpp.jsonl", [mbpp_row(n, f"task {n}") for n in (601, 602, 603)])
    config = InstructionsConfig(mbpp=str(path), limit=2)
    assert [i.task_id for i in load_instructions(config)] == ["Mbpp/601", "Mbpp/602"]
