"""The livecodebench loader (schema, releases, date windows, private tests), its extraction rule,
and evaluate-samples on the 400 release_v1 problems."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from plum_exec.errors import PlumError
from plum_exec.evaluation import EvaluationConfig, evaluate_samples, read_samples
from plum_exec.extraction import extract_livecodebench, program_from_response
from plum_exec.problems import load_benchmark
from plum_exec.problems.livecodebench import decode_private_tests, release_files
from plum_exec.records import Problem, TestCase


def _row(question_id: str, date: str, *, func_name: str | None = None, private: str | None = None) -> dict:
    stdin = func_name is None
    tests = [{"input": "1 2\n" if stdin else "[1]\n2", "output": "3\n" if stdin else "3", "testtype": "stdin" if stdin else "functional"}]
    return {
        "question_title": question_id, "question_content": f"Problem {question_id}", "platform": "atcoder" if stdin else "leetcode",
        "question_id": question_id, "contest_id": "c1", "contest_date": f"{date}T00:00:00",
        "starter_code": "" if stdin else f"class Solution:\n    def {func_name}(self, a, b):\n        ",
        "difficulty": "easy", "public_test_cases": json.dumps(tests),
        "metadata": json.dumps({"func_name": func_name} if func_name else {}), "private_test_cases": private,
    }  # fmt: skip


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _packed(value: object) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(value))).decode()


def test_schema_maps_to_problems_with_lcbs_test_kinds(tmp_path: Path) -> None:
    private = _packed(json.dumps([{"input": "5 5\n", "output": "10\n", "testtype": "stdin"}]))
    path = _write(tmp_path / "p.jsonl", [_row("abc1", "2023-06-01", private=private), _row("2000", "2023-07-01", func_name="f")])
    problems = load_benchmark("livecodebench", path)
    stdio, functional = problems["abc1"], problems["2000"]
    assert [t.kind for t in stdio.tests] == ["stdio", "stdio"]  # public, then private
    assert stdio.tests[1].inputs == "5 5\n" and stdio.tests[1].expected == "10\n"
    assert stdio.entry_point is None and stdio.metadata["private_tests"] == 1
    assert functional.entry_point == "f" and functional.tests[0].kind == "functional"
    assert functional.tests[0].expected == 3  # decoded once, in the trusted process
    assert functional.metadata["time_limit"] == 6.0 and functional.metadata["platform"] == "leetcode"


def test_private_tests_as_json_text_or_packed_string() -> None:
    tests = [{"input": "1", "output": "2", "testtype": "stdin"}]
    assert decode_private_tests(json.dumps(tests), "x") == tests
    assert decode_private_tests(_packed(json.dumps(tests)), "x") == tests
    assert decode_private_tests(None, "x") is None


class _Boom:
    def __reduce__(self):  # unpickling this would create a file
        return (Path.touch, (Path("/tmp/plumcode-lcb-pickle-ran"),))


def test_a_pickle_that_is_not_a_string_is_refused_without_running_anything() -> None:
    Path("/tmp/plumcode-lcb-pickle-ran").unlink(missing_ok=True)
    with pytest.raises(PlumError, match="only a pickled string"):
        decode_private_tests(_packed(_Boom()), "f.jsonl:3")
    assert not Path("/tmp/plumcode-lcb-pickle-ran").exists()
    with pytest.raises(PlumError, match="holds a list"):
        decode_private_tests(_packed([1, 2]), "f.jsonl:3")
    with pytest.raises(PlumError, match="neither JSON nor base64"):
        decode_private_tests("not json, not base64!", "f.jsonl:3")


def test_releases_are_the_hubs_files() -> None:
    assert release_files("release_v1") == ["test.jsonl"]
    assert release_files("release_v3") == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert release_files("v2") == ["test2.jsonl"]
    assert release_files("v2_v4") == ["test2.jsonl", "test3.jsonl", "test4.jsonl"]
    assert len(release_files("latest")) == len(release_files("release_latest")) == 6
    for bad in ("release_v7", "v0", "v3_v2", "release_v1_v2", "newest"):
        with pytest.raises(PlumError, match="unknown LiveCodeBench release"):
            release_files(bad)


def test_release_folder_and_date_window(tmp_path: Path) -> None:
    _write(tmp_path / "test.jsonl", [_row("a", "2023-05-07"), _row("b", "2023-09-01")])
    _write(tmp_path / "test2.jsonl", [_row("c", "2024-04-01")])
    assert sorted(load_benchmark("livecodebench", tmp_path, release_version="release_v1")) == ["a", "b"]
    assert sorted(load_benchmark("livecodebench", tmp_path, release_version="release_v2")) == ["a", "b", "c"]
    assert sorted(load_benchmark("livecodebench", tmp_path, release_version="v2")) == ["c"]
    window = {"release_version": "release_v2", "start_date": "2023-09-01", "end_date": "2024-04-01"}
    assert sorted(load_benchmark("livecodebench", tmp_path, **window)) == ["b", "c"]  # both ends inclusive
    with pytest.raises(PlumError, match="--start-date"):
        load_benchmark("livecodebench", tmp_path, release_version="v1", start_date="2023/09/01")
    with pytest.raises(PlumError, match="single file has no releases"):
        load_benchmark("livecodebench", tmp_path / "test.jsonl", release_version="v1")
    with pytest.raises(PlumError, match="test3.jsonl"):
        load_benchmark("livecodebench", tmp_path, release_version="release_v3")
    with pytest.raises(PlumError, match="do\\(es\\) not apply"):
        load_benchmark("mbpp", None, start_date="2024-01-01")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("public_test_cases", "[{\"input\": 1}]", "string 'input' and 'output'"),
        ("metadata", "{", "not valid JSON"),
        ("contest_date", "yesterday", "not an ISO date"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, field: str, value: str, message: str) -> None:
    row = _row("a", "2023-05-07")
    row[field] = value
    path = _write(tmp_path / "bad.jsonl", [_row("ok", "2023-05-07"), row])
    with pytest.raises(PlumError, match=f"bad.jsonl:2.*{message}"):
        load_benchmark("livecodebench", path)


def test_functional_tests_must_be_json_lines(tmp_path: Path) -> None:
    row = _row("a", "2023-05-07", func_name="f")
    row["public_test_cases"] = json.dumps([{"input": "[1\n2", "output": "3", "testtype": "functional"}])
    with pytest.raises(PlumError, match="one JSON value per line"):
        load_benchmark("livecodebench", _write(tmp_path / "p.jsonl", [row]))


def test_lcbs_extraction_takes_the_last_fenced_block() -> None:
    answer = "Idea:\n```python\nprint(1)\n```\nFinal:\n```python\nprint(2)\n```\nDone."
    assert extract_livecodebench(answer) == "print(2)"
    assert extract_livecodebench("no code here") == ""
    assert extract_livecodebench("```python\nprint(1)") == ""  # one fence only
    assert extract_livecodebench("  print(3)\n", base_model=True) == "print(3)"


def test_stdio_custom_problems_keep_the_whole_script() -> None:
    problem = Problem("t", "sum", tests=[TestCase("stdio", inputs="1 2", expected="3", has_expected=True)])
    answer = "```python\nimport sys\ndef main():\n    print(sum(map(int, input().split())))\nif __name__ == '__main__':\n    main()\n```"
    program = program_from_response(answer, problem)
    assert "input()" in program and "__main__" in program


def test_evaluate_samples_judges_all_400_problems(shared_data: Path, tmp_path: Path) -> None:
    """Every problem of release_v1 judged from response-only samples: an answer that prints the
    first public test's expected output passes exactly the problems whose public tests all share
    it, and a LeetCode answer returning the first expected value likewise."""
    path = shared_data / "livecodebench" / "lcb_release_v1_public.jsonl"
    problems = load_benchmark("livecodebench", path)
    assert len(problems) == 400
    rows = []
    for task_id, problem in problems.items():
        first = problem.tests[0]
        if first.kind == "stdio":
            code = f"import sys\nsys.stdout.write({first.expected!r})"
        else:
            code = f"class Solution:\n    def {problem.entry_point}(self, *args):\n        return {first.expected!r}"
        rows.append({"task_id": task_id, "response": f"Here:\n```python\n{code}\n```\n"})
    samples_path = tmp_path / "samples.jsonl"
    samples_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = read_samples(samples_path, problems)
    summary = evaluate_samples(problems, samples, tmp_path / "results.jsonl", EvaluationConfig(workers=2))
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(results) == 400 and summary["excluded_infra_errors"] == 0
    expected_passes = {
        task_id for task_id, p in problems.items() if all(_same_answer(t, p.tests[0]) for t in p.tests)
    }
    assert {r["task_id"] for r in results if r["base_status"] == "pass"} == expected_passes
    assert {r["base_status"] for r in results} <= {"pass", "fail"}
    assert set(summary["groups"]["platform"]) == {"atcoder", "codeforces", "leetcode"}
    assert set(summary["groups"]["difficulty"]) == {"easy", "medium", "hard"}


def _same_answer(test: TestCase, first: TestCase) -> bool:
    if test.kind == "stdio":
        return [line.strip() for line in test.expected.strip().split("\n")] == [
            line.strip() for line in first.expected.strip().split("\n")
        ]
    return test.expected == first.expected


def test_hub_release_is_read_from_its_test_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub here: hf_hub_download serves local copies; the loading script is never used."""
    import huggingface_hub

    files = {"test.jsonl": [_row("a", "2023-05-07")], "test2.jsonl": [_row("b", "2024-05-01")]}
    calls = []

    def local_hub(repo_id: str, filename: str, repo_type: str) -> str:
        calls.append((repo_id, filename, repo_type))
        return str(_write(tmp_path / filename, files[filename]))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", local_hub)
    assert sorted(load_benchmark("livecodebench", None, release_version="release_v2")) == ["a", "b"]
    assert calls == [("livecodebench/code_generation_lite", f, "dataset") for f in ("test.jsonl", "test2.jsonl")]

    def offline(**_: object) -> str:
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: offline())
    with pytest.raises(PlumError, match="cannot download test.jsonl of livecodebench/code_generation_lite"):
        load_benchmark("livecodebench", None, release_version="v1")


# ---------------------------------------------------------------- custom problems of these kinds


def test_custom_problems_with_stdio_and_functional_tests(tmp_path: Path) -> None:
    from plum_exec.problems import load_problems_jsonl

    rows = [
        {"task_id": "sum", "prompt": "Sum A and B.", "test_type": "stdio", "tests": [{"input": "1 2\n", "output": "3\n"}],
         "canonical_solution": "print(sum(map(int, input().split())))\n"},
        {"task_id": "twice", "prompt": "Twice.", "test_type": "functional", "entry_point": "twice",
         "tests": [{"input": "[1, 2]", "output": "[2, 4]"}], "time_limit": 2},
    ]  # fmt: skip
    problems = load_problems_jsonl(_write(tmp_path / "p.jsonl", rows))
    assert problems["sum"].tests == [TestCase("stdio", inputs="1 2\n", expected="3\n", has_expected=True)]
    assert problems["sum"].reference is not None and problems["sum"].entry_point is None
    assert problems["twice"].tests == [TestCase("functional", inputs="[1, 2]", expected=[2, 4], has_expected=True)]
    assert problems["twice"].metadata == {"time_limit": 2.0}
    samples = tmp_path / "s.jsonl"
    samples.write_text(
        json.dumps({"task_id": "sum", "response": "```python\nimport sys\nprint(sum(map(int, sys.stdin.readline().split())))\n```"}) + "\n"
        + json.dumps({"task_id": "twice", "solution": "def twice(xs):\n    return [2 * x for x in xs]\n"}) + "\n"
        + json.dumps({"task_id": "twice", "solution": "def twice(xs):\n    return xs\n"}) + "\n"
    )
    evaluate_samples(problems, read_samples(samples, problems), tmp_path / "r.jsonl", EvaluationConfig(workers=1))
    statuses = [json.loads(line)["base_status"] for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(statuses) == ["fail", "pass", "pass"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"test_type": "stdin"}, "test_type 'stdin' is not one of"),
        ({"test_type": "functional", "tests": [{"input": "1", "output": "2"}]}, "need 'entry_point'"),
        ({"test_type": "stdio", "tests": []}, "non-empty list of"),
        ({"test_type": "stdio", "tests": ["print(1)"]}, r"tests\[0\]: expected an object"),
        ({"test_type": "stdio", "tests": [{"input": "1", "output": "2"}], "time_limit": -1}, "time_limit must be"),
    ],
)
def test_custom_stdio_rows_are_validated(tmp_path: Path, row: dict, message: str) -> None:
    from plum_exec.problems import load_problems_jsonl

    path = _write(tmp_path / "p.jsonl", [{"task_id": "a", "prompt": "p", **row}])
    with pytest.raises(PlumError, match=rf"p.jsonl:1: .*{message}"):
        load_problems_jsonl(path)


def test_response_only_samples_of_function_benchmarks_are_sanitized(tmp_path: Path) -> None:
    problem = Problem("add", "def add(a, b):\n", entry_point="add", tests=[TestCase("assert", "assert add(1, 2) == 3")])
    path = tmp_path / "s.jsonl"
    answer = "```python\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\n```"
    path.write_text(json.dumps({"task_id": "add", "response": answer}) + "\n")
    (sample,) = read_samples(path, {"add": problem})
    assert sample.solution.strip() == "def add(a, b):\n    return a + b"  # the print is gone
