from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from plum_exec import evaluation, records
from plum_exec.cli import cli
from plum_exec.command import run_main
from plum_exec.errors import PlumError
from plum_exec.evaluation import (
    EvaluationConfig,
    evaluate_samples,
    read_samples,
    summarize,
    time_limits,
)
from plum_exec.jsonl import JsonlAppender, read_jsonl, write_json, write_jsonl
from plum_exec.problems import load_benchmark, load_mbpp, load_problems_jsonl
from plum_exec.problems.ground_truth import attach_ground_truth
from plum_exec.records import INFRA_ERROR, Problem, SampleResult
from plum_exec.sandbox import Job, JobResult, Sandbox, SandboxConfig


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-exec")

CONFIG = EvaluationConfig(workers=2, timeout=0.5)

PROBLEMS = [
    {
        "task_id": "add",
        "prompt": "def add(a, b):\n",
        "canonical_solution": "    return a + b\n",
        "tests": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"],
    },
    {
        "task_id": "sq",
        "prompt": "Square a number.",
        "entry_point": "square",
        "test": "def check(candidate):\n    assert candidate(3) == 9\n    assert candidate(-2) == 4\n",
    },
]
SAMPLES = [
    {"task_id": "add", "completion": "    return a + b\n"},
    {"task_id": "add", "solution": "def add(a, b):\n    return a - b\n"},
    {"task_id": "add", "solution": "def add(a, b):\n    raise ValueError('no')\n"},
    {"task_id": "add", "solution": "def add(a, b):\n    while True:\n        pass\n"},
    {"task_id": "add", "solution": "import sys\nsys.exit(0)\n"},
    {"task_id": "sq", "solution": "def square(x):\n    return x * x\n", "sample_id": 7},
    {"task_id": "sq", "solution": "def square(x):\n    return x * abs(x)\n"},
]


def write_rows(path: Path, rows: Sequence[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def problems(tmp_path: Path) -> dict[str, Problem]:
    return load_problems_jsonl(write_rows(tmp_path / "problems.jsonl", PROBLEMS))


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def rows_by_key(path: Path) -> dict[tuple[str, int], dict]:
    return {(r["task_id"], r["sample_id"]): r for r in read_jsonl(path)}


def test_statuses_rows_and_pass_at_k(tmp_path: Path, problems: dict[str, Problem]) -> None:
    samples = read_samples(write_rows(tmp_path / "samples.jsonl", SAMPLES), problems)
    assert [(s.task_id, s.sample_id) for s in samples] == [("add", i) for i in range(5)] + [
        ("sq", 7),
        ("sq", 1),
    ]
    assert samples[0].solution == "def add(a, b):\n    return a + b\n"  # prompt + completion

    summary = evaluate_samples(problems, samples, tmp_path / "out.jsonl", CONFIG)
    rows = rows_by_key(tmp_path / "out.jsonl")
    assert len(rows) == 7
    assert [rows["add", i]["base_status"] for i in range(5)] == [
        "pass",
        "fail",
        "error",
        "timeout",
        "error",
    ]
    assert rows["add", 1]["failed_base"] == [0, 1]
    assert rows["add", 4]["base_outcomes"][0]["status"] == "error"  # exiting early is not passing
    assert rows["sq", 7]["base_status"] == "pass" and rows["sq", 1]["base_status"] == "fail"
    assert all(r["plus_status"] is None and r["duration"] > 0 for r in rows.values())
    assert summary["base"] == {"pass@1": pytest.approx((1 / 5 + 1 / 2) / 2)}
    assert summary["plus"] is None and summary["excluded_infra_errors"] == 0
    assert summary["base_status"] == {"pass": 2, "fail": 2, "error": 2, "timeout": 1}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"task_id": "nope", "solution": "x = 1"}, r"samples.jsonl:2: unknown task_id 'nope'"),
        ({"task_id": "add"}, r"samples.jsonl:2: missing field 'solution', 'completion' or 'response'"),
        ({"task_id": "add", "solution": 5}, r"samples.jsonl:2: field 'solution' must be str"),
        (
            {"task_id": "add", "solution": "x", "sample_id": 0},
            r"samples.jsonl:2: duplicate sample_id 0 for task 'add'",
        ),
        (
            {"task_id": "add", "solution": "x", "sample_id": "a"},
            r"samples.jsonl:2: field 'sample_id' must be int",
        ),
    ],
)
def test_bad_samples_fail_before_anything_runs(
    tmp_path: Path, problems: dict[str, Problem], row: dict, message: str
) -> None:
    path = write_rows(tmp_path / "samples.jsonl", [SAMPLES[0], row])
    with pytest.raises(PlumError, match=message):
        read_samples(path, problems)


def test_cli_reports_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = write_rows(tmp_path / "problems.jsonl", PROBLEMS)
    samples = write_rows(
        tmp_path / "samples.jsonl", [SAMPLES[0], {"task_id": "HumanEval/0", "completion": ""}]
    )
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "evaluate-samples",
            "--problems",
            str(problems),
            "--samples",
            str(samples),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        f"plum-exec: error: {samples}:2: unknown task_id 'HumanEval/0' (not one of the 2 problems)"
    ]
    assert not out.exists()
    code = main(
        [
            "evaluate-samples",
            "--problems",
            str(problems),
            "--dataset-path",
            "x.jsonl",
            "--samples",
            str(samples),
            "--out",
            str(out),
        ]
    )
    assert code == 2 and "--dataset-path goes with --benchmark" in capsys.readouterr().err


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = write_rows(tmp_path / "problems.jsonl", PROBLEMS)
    samples = write_rows(tmp_path / "samples.jsonl", SAMPLES[:2] + SAMPLES[5:])
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    argv = [
        "evaluate-samples",
        "--problems",
        str(problems),
        "--samples",
        str(samples),
        "--out",
        str(out),
        "--summary",
        str(summary),
        "--workers",
        "2",
        "--timeout",
        "2",
        "--isolation",
        "auto",
    ]
    assert main(argv) == 0
    written = json.loads(summary.read_text())
    assert written["base"]["pass@1"] == pytest.approx(0.5) and written["samples"] == 4
    assert "pass@1" in capsys.readouterr().out


def test_jsonl_writers_store_any_str_and_read_it_back(tmp_path: Path) -> None:
    row = {"m": "a\udcff\\\ud800\"", "k\udfff": ["\ude00\ud83d"]}  # not a pair: JSON would join one
    write_jsonl(tmp_path / "a.jsonl", [row])
    with JsonlAppender(tmp_path / "b.jsonl") as log:
        log.write(row)
    write_json(tmp_path / "c.json", row)
    assert list(read_jsonl(tmp_path / "a.jsonl")) == list(read_jsonl(tmp_path / "b.jsonl")) == [row]
    assert json.loads((tmp_path / "c.json").read_text()) == row


def test_text_a_program_chooses_never_stops_the_run_or_its_resume(tmp_path: Path) -> None:
    """Lone surrogates (UTF-8 cannot encode them) in what a program raises, writes to stderr and
    returns: the run and its rerun finish, and every row is stored."""
    problems = write_rows(tmp_path / "problems.jsonl", PROBLEMS[:1])
    hostile = [
        "def add(a, b):\n    raise ValueError('\\udcff')\n",
        "import sys\nsys.stderr.reconfigure(errors='surrogatepass')\nsys.stderr.write('\\ud800')\ndef add(a, b):\n    return a - b\n",
        "def add(a, b):\n    assert False, '\\udfff' * 3\n",
    ]
    samples = write_rows(tmp_path / "samples.jsonl", [{"task_id": "add", "solution": p} for p in hostile])
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    argv = ["evaluate-samples", "--problems", str(problems), "--samples", str(samples), "--out", str(out),
            "--summary", str(summary), "--workers", "2"]
    assert main(argv) == 0
    assert main(argv) == 0  # the rerun reads the rows back
    rows = rows_by_key(out)
    assert [rows["add", i]["base_status"] for i in range(3)] == ["error", "fail", "fail"]
    assert rows["add", 0]["base_outcomes"][0]["message"] == "ValueError: \ufffd"
    assert json.loads(summary.read_text())["samples"] == 3


def test_resume_keeps_finished_rows_and_redoes_a_torn_one(
    tmp_path: Path, problems: dict[str, Problem]
) -> None:
    out = tmp_path / "out.jsonl"
    first = read_samples(write_rows(tmp_path / "a.jsonl", SAMPLES[:3]), problems)
    evaluate_samples(problems, first, out, CONFIG)
    before = out.read_text().splitlines()
    out.write_text(
        "\n".join(before[:2]) + "\n" + before[2][: len(before[2]) // 2]
    )  # crash mid-write

    everything = read_samples(write_rows(tmp_path / "b.jsonl", SAMPLES), problems)
    summary = evaluate_samples(problems, everything, out, CONFIG)
    after = out.read_text().splitlines()
    assert after[:2] == before[:2]  # finished rows untouched (durations would differ if rerun)
    assert len(after) == len(SAMPLES) and len(rows_by_key(out)) == len(SAMPLES)
    assert summary["samples"] == len(SAMPLES)


def test_resume_reruns_rows_made_from_another_program_or_other_tests(
    tmp_path: Path, problems: dict[str, Problem]
) -> None:
    out = tmp_path / "out.jsonl"
    wrong = [SAMPLES[0], SAMPLES[1]]  # sample 1 subtracts: fail
    evaluate_samples(problems, read_samples(write_rows(tmp_path / "a.jsonl", wrong), problems), out, CONFIG)
    assert rows_by_key(out)[("add", 1)]["base_status"] == "fail"
    # Same --out, same ids, a different program under sample 1: its old verdict must not stay.
    fixed = [SAMPLES[0], {"task_id": "add", "solution": "def add(a, b):\n    return b + a\n"}]
    summary = evaluate_samples(problems, read_samples(write_rows(tmp_path / "b.jsonl", fixed), problems), out, CONFIG)
    assert rows_by_key(out)[("add", 1)]["base_status"] == "pass"
    assert summary["base_status"] == {"pass": 2}
    kept = out.read_text().splitlines()
    assert len(kept) == 3  # sample 0 was not run again
    # Other tests for the same samples: every row is run again.
    changed = {**problems, "add": dataclasses.replace(problems["add"], tests=problems["add"].tests[:1])}
    evaluate_samples(changed, read_samples(tmp_path / "b.jsonl", changed), out, CONFIG)
    assert len(out.read_text().splitlines()) == 5
    assert all(len(row["base_outcomes"]) == 1 for row in rows_by_key(out).values())


class FlakySandbox(Sandbox):
    """Fault injection on top of the real sandbox: chosen programs get infra_error results."""

    fail_times: dict[str, int] = {}

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, JobResult]]:
        for index, result in super().run(jobs):
            program = jobs[index].program
            if self.fail_times.get(program, 0) > 0:
                self.fail_times[program] -= 1
                result = JobResult(
                    [records.TestOutcome(INFRA_ERROR, 0.0, "injected")] * len(result.outcomes),
                    result.outputs,
                )
            yield index, result


def test_infra_errors_are_retried_once_then_left_out(
    tmp_path: Path, problems: dict[str, Problem], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation, "Sandbox", FlakySandbox)
    samples = read_samples(write_rows(tmp_path / "s.jsonl", SAMPLES[:2] + SAMPLES[5:]), problems)
    flaky_once, flaky_twice = samples[1].solution, samples[2].solution  # neither is the reference
    monkeypatch.setattr(FlakySandbox, "fail_times", {flaky_once: 1, flaky_twice: 2})
    out = tmp_path / "out.jsonl"

    summary = evaluate_samples(problems, samples, out, CONFIG)
    rows = rows_by_key(out)
    assert rows["add", 1]["base_status"] == "fail"  # its retry gave the real verdict
    assert rows["sq", 7]["base_status"] == "infra_error"  # failed twice: reported, not counted
    assert summary["excluded_infra_errors"] == 1
    assert summary["base"]["pass@1"] == pytest.approx(
        (1 / 2 + 0 / 1) / 2
    )  # sq's failing sample alone

    summary = evaluate_samples(problems, samples, out, CONFIG)  # a rerun redoes only the infra row
    assert len(out.read_text().splitlines()) == 5
    assert (
        rows_by_key(out)["sq", 7]["base_status"] == "pass" and summary["excluded_infra_errors"] == 0
    )


def test_summary_excludes_infra_errors_from_pass_at_k() -> None:
    results = [
        SampleResult("t", i, status)
        for i, status in enumerate(["pass", "fail", "infra_error", "pass"])
    ]
    summary = summarize(results, num_problems=1)
    assert summary["excluded_infra_errors"] == 1
    assert summary["base"]["pass@1"] == pytest.approx(2 / 3)


def test_mbpp_setup_code_can_use_the_programs_classes(tmp_path: Path) -> None:
    code = "class Box:\n    def __init__(self, v):\n        self.v = v\ndef unwrap(b):\n    return b.v\n"
    row = {
        "task_id": 900,
        "text": "Unwrap a box.",
        "code": code,
        "test_list": ["assert unwrap(box) == 3"],
        "test_setup_code": "box = Box(3)",
    }
    problems = load_mbpp(write_rows(tmp_path / "mbpp.jsonl", [row]), split="all")
    samples = [
        records.Sample("Mbpp/900", 0, code),
        records.Sample("Mbpp/900", 1, code.replace("b.v", "b.v + 1")),
    ]
    evaluate_samples(problems, samples, tmp_path / "out.jsonl", CONFIG)
    rows = rows_by_key(tmp_path / "out.jsonl")
    assert (rows["Mbpp/900", 0]["base_status"], rows["Mbpp/900", 1]["base_status"]) == (
        "pass",
        "fail",
    )


# -- ground truth and EvalPlus-format problems ---------------------------------------------------


def mbpp_plus_subset(shared_data: Path, tmp_path: Path, task_ids: set[str]) -> dict[str, Problem]:
    lines = (shared_data / "evalplus_dev" / "mbpp_plus_dev.jsonl").read_text().splitlines()
    chosen = [line for line in lines if json.loads(line)["task_id"] in task_ids]
    path = tmp_path / "mbpp_plus_subset.jsonl"
    path.write_text("\n".join(chosen) + "\n")
    return load_benchmark("mbpp+", path)


def test_mbpp_plus_base_and_plus_verdicts(shared_data: Path, tmp_path: Path) -> None:
    problems = mbpp_plus_subset(shared_data, tmp_path, {"Mbpp/2", "Mbpp/793"})
    samples = write_rows(
        tmp_path / "samples.jsonl",
        [
            {
                "task_id": "Mbpp/2",
                "solution": "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n",
            },
            {
                "task_id": "Mbpp/2",
                "solution": "def similar_elements(a, b):\n    return tuple(set(a) & set(b)) if a and b else None\n",
            },
            {
                "task_id": "Mbpp/2",
                "solution": "def similar_elements(a, b):\n    return () if a == (3, 4, 5, 6) else tuple(set(a) & set(b))\n",
            },
            {
                "task_id": "Mbpp/793",
                "completion": problems["Mbpp/793"].reference[len(problems["Mbpp/793"].prompt) :],
            },
        ],
    )
    out = tmp_path / "out.jsonl"
    summary = evaluate_samples(problems, read_samples(samples, problems), out, CONFIG)
    rows = rows_by_key(out)
    assert (rows["Mbpp/2", 0]["base_status"], rows["Mbpp/2", 0]["plus_status"]) == (
        "pass",
        "pass",
    )  # set_eq oracle
    assert (rows["Mbpp/2", 1]["base_status"], rows["Mbpp/2", 1]["plus_status"]) == (
        "pass",
        "fail",
    )  # empty inputs
    assert rows["Mbpp/2", 1]["failed_base"] == [] and 0 in rows["Mbpp/2", 1]["failed_plus"]
    assert (rows["Mbpp/2", 2]["base_status"], rows["Mbpp/2", 2]["plus_status"]) == (
        "fail",
        "fail",
    )  # plus needs base
    assert rows["Mbpp/2", 2]["failed_plus"] == []
    assert (rows["Mbpp/793", 0]["base_status"], rows["Mbpp/793", 0]["plus_status"]) == (
        "pass",
        "pass",
    )
    assert summary["plus"]["pass@1"] == pytest.approx((1 / 3 + 1) / 2)


class RecordingSandbox:
    """Delegates to a real sandbox and records which programs it ran, call by call."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox, self.calls = sandbox, []

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, JobResult]]:
        self.calls.append({job.program for job in jobs})
        return self.sandbox.run(jobs)


def test_ground_truth_is_computed_once_and_keyed_by_content(
    shared_data: Path, tmp_path: Path
) -> None:
    problems = mbpp_plus_subset(shared_data, tmp_path, {"Mbpp/2", "Mbpp/442"})
    with Sandbox(SandboxConfig(workers=2)) as real:
        sandbox = RecordingSandbox(real)
        truth = attach_ground_truth(problems, sandbox, cache=tmp_path / "gt")  # type: ignore[arg-type]
        assert sandbox.calls[-1] == {problems["Mbpp/2"].reference, problems["Mbpp/442"].reference}
        assert truth["Mbpp/2"].tests[0].has_expected and truth["Mbpp/2"].tests[0].expected == (4, 5)
        assert (
            truth["Mbpp/442"].tests[0].expected == pytest.approx(0.54, abs=0.01)
            and truth["Mbpp/442"].atol == 1e-4
        )
        times = truth["Mbpp/2"].metadata["reference_times"]
        assert len(times["tests"]) == len(problems["Mbpp/2"].tests) and all(
            t > 0 for t in times["plus_tests"]
        )

        again = attach_ground_truth(problems, sandbox, cache=tmp_path / "gt")  # type: ignore[arg-type]
        assert sandbox.calls[-1] == set() and again["Mbpp/2"].tests == truth["Mbpp/2"].tests
        problems["Mbpp/2"].reference = (problems["Mbpp/2"].reference or "") + "\n# edited\n"
        attach_ground_truth(problems, sandbox, cache=tmp_path / "gt")  # type: ignore[arg-type]
        assert sandbox.calls[-1] == {problems["Mbpp/2"].reference}  # only the edited problem reruns


def test_broken_reference_is_an_error(tmp_path: Path) -> None:
    problems = load_problems_jsonl(
        write_rows(
            tmp_path / "p.jsonl",
            [
                {
                    "task_id": "bad",
                    "prompt": "p",
                    "canonical_solution": "def f():\n    return 2\n",
                    "tests": ["assert f() == 1"],
                },
            ],
        )
    )
    with (
        Sandbox(SandboxConfig(workers=1)) as sandbox,
        pytest.raises(PlumError, match="bad: the reference solution does not pass base test 0"),
    ):
        attach_ground_truth(problems, sandbox, cache=tmp_path / "gt")


def test_time_limits_follow_the_reference() -> None:
    problem = Problem(
        "t",
        "p",
        tests=[],
        metadata={"reference_times": {"tests": [0.01, 0.5], "plus_tests": [2.0]}},
    )
    config = EvaluationConfig(workers=1, timeout=1.0, time_factor=4.0)
    assert time_limits(problem, config) == [1.0, 2.0, 8.0]
    without_reference = Problem("u", "p", tests=[records.TestCase("assert", "assert True")] * 3)
    assert time_limits(without_reference, config) == [1.0, 1.0, 1.0]
