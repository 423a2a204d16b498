"""``plum demo`` end to end on the shipped models, one short round: test synthesis by the demo
generator, sampling, sandboxed execution, KTO, evaluation on the three splits, the report; then a
rerun on the same folder resumes without redoing anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plumcode.cli import main
from plumcode.demo.family import SPLITS

# Enough instructions that some samples pass and some fail (KTO needs both labels).
SHORT = ["rounds=1", "instructions.limit=24", "evaluation.limit=12", "sampling.n=4"]


@pytest.mark.slow
def test_demo_runs_one_short_round_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), *(x for item in SHORT for x in ("--set", item))]
    assert main(args) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
    for round_ in summary["rounds"]:
        assert set(round_["eval"]) == set(SPLITS)
        assert all(e["n"] == 12 and 0.0 <= e["pass@1"] <= 1.0 for e in round_["eval"].values())
    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison["start"]) == set(SPLITS) and set(comparison["methods"]) == {"kto"}
    assert (out / "report.html").is_file() and (out / "plots" / "comparison.png").is_file()
    assert (out / "round_01" / "train" / "model" / "model.safetensors").is_file()
    synthesized = [json.loads(line) for line in (out / "tests.jsonl").read_text().splitlines()]
    assert all(row["tests"] for row in synthesized)

    markers = {p: p.stat().st_mtime_ns for p in out.rglob("*.done")}
    assert main(args) == 0  # same folder: every stage is done, nothing reruns
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.done")} == markers
    assert json.loads((out / "summary.json").read_text()) == summary
