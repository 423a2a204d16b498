"""LiveCodeBench code generation (``livecodebench/code_generation_lite``) in its own schema.

Rows: ``question_id`` (the task id), ``question_content`` (the prompt), ``platform``
(``leetcode``, ``atcoder``, ``codeforces``), ``contest_date`` (ISO), ``starter_code``,
``difficulty``, ``public_test_cases`` (JSON text of ``[{input, output, testtype}]``),
``private_test_cases`` (JSON text, or base64 of zlib of a pickle of JSON text; null when not
available) and ``metadata`` (JSON text; ``func_name`` for LeetCode-style problems). As in
LiveCodeBench's grader, a problem with a ``func_name`` has functional tests (one JSON value per
input line, called on ``Solution()``), any other has stdin/stdout tests; public tests run
before private ones.

Releases are the Hub repository's files: ``release_vN`` (and ``vN`` ... as LiveCodeBench names
them) select them; ``start_date``/``end_date`` keep problems whose contest date lies in the window.
Private tests are decoded without running anything: the pickle may hold only a string.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import re
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.jsonl import require
from plum_exec.lcb_judge import parse_json
from plum_exec.problems.common import index_unique, numbered_rows
from plum_exec.records import Problem, TestCase

HUB_REPO = "livecodebench/code_generation_lite"
RELEASES = 6
TIME_LIMIT = 6.0  # LiveCodeBench's per-test (and load) timeout, seconds
PRIVATE_TESTS_MAX_BYTES = 2 * 1024**3
DATE_FORMAT = "%Y-%m-%d"


def release_files(version: str) -> list[str]:
    """The Hub files of a release: ``release_vN`` (cumulative), ``release_latest``/``latest``,
    ``vN`` (that release's new problems only) or ``vN_vM`` (releases N to M)."""
    name = version.removeprefix("release_")
    if name == "latest":
        return [_file(i) for i in range(1, RELEASES + 1)]
    cumulative = version.startswith("release_")
    match = re.fullmatch(r"v(\d+)(?:_v(\d+))?", name)
    if match is None or (cumulative and match[2]):
        raise PlumError(f"unknown LiveCodeBench release {version!r}; valid: {', '.join(RELEASE_NAMES)}")
    first, last = int(match[1]), int(match[2] or match[1])
    if not 1 <= first <= last <= RELEASES:
        raise PlumError(f"unknown LiveCodeBench release {version!r}; valid: {', '.join(RELEASE_NAMES)}")
    return [_file(i) for i in range(1 if cumulative else first, last + 1)]


def _file(release: int) -> str:
    return "test.jsonl" if release == 1 else f"test{release}.jsonl"


RELEASE_NAMES = (
    *(f"release_v{i}" for i in range(1, RELEASES + 1)), "release_latest", "latest",
    *(f"v{i}" for i in range(1, RELEASES + 1)), "vN_vM",
)


def load_livecodebench(
    path: str | Path | None = None,
    release_version: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> dict[str, Problem]:
    """Problems from ``path`` (a JSONL file, or a folder holding the Hub's ``test*.jsonl``) or
    from the Hub, in the release and contest-date window asked for."""
    window = _date(start_date, "--start-date"), _date(end_date, "--end-date")
    problems = index_unique(
        (where, problem)
        for where, row in _rows(path, release_version)
        if _in_window(problem := livecodebench_problem(row, where), window)
    )
    if not problems:
        raise PlumError(f"no LiveCodeBench problems in {path or HUB_REPO} for this release and date window")
    return problems


def _rows(path: str | Path | None, release_version: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    if path is not None and Path(path).is_file():
        if release_version is not None:
            raise PlumError(f"{path}: a single file has no releases; give a folder with the Hub's test*.jsonl files")
        yield from numbered_rows(path)
        return
    for name in release_files(release_version or "release_latest"):
        yield from numbered_rows(_local_or_hub(path, name))


def _local_or_hub(folder: str | Path | None, name: str) -> Path:
    if folder is not None:
        file = Path(folder) / name
        if not file.is_file():
            raise PlumError(f"{file}: not found (LiveCodeBench's {name})")
        return file
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(HUB_REPO, name, repo_type="dataset"))
    except Exception as exc:  # noqa: BLE001 - network, auth, missing file: one line for the user
        raise PlumError(f"cannot download {name} of {HUB_REPO}: {exc}") from None


def _date(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, DATE_FORMAT)
    except ValueError:
        raise PlumError(f"{option} {text!r}: expected a date as YYYY-MM-DD") from None


def _in_window(problem: Problem, window: tuple[datetime | None, datetime | None]) -> bool:
    """LiveCodeBench's rule: ``start <= contest_date <= end`` (dates at midnight)."""
    start, end = window
    date = datetime.fromisoformat(problem.metadata["contest_date"])
    return (start is None or start <= date) and (end is None or date <= end)


def livecodebench_problem(row: dict[str, Any], where: str) -> Problem:
    metadata = _json_field(row, "metadata", where, dict)
    func_name = metadata.get("func_name")
    if func_name is not None and not isinstance(func_name, str):
        raise PlumError(f"{where}: metadata.func_name must be a string")
    kind = "functional" if func_name else "stdio"
    public = _json_field(row, "public_test_cases", where, list)
    private = decode_private_tests(row.get("private_test_cases"), where)
    contest_date = require(row, "contest_date", where, str)
    try:
        datetime.fromisoformat(contest_date)
    except ValueError:
        raise PlumError(f"{where}: contest_date {contest_date!r} is not an ISO date") from None
    tests = [lcb_test(t, kind, f"{where}: test {i}") for i, t in enumerate([*public, *(private or [])])]
    if not tests:
        raise PlumError(f"{where}: no test cases")
    return Problem(
        task_id=require(row, "question_id", where, str),
        prompt=require(row, "question_content", where, str),
        entry_point=func_name or None,
        tests=tests,
        metadata={
            "benchmark": "livecodebench",
            "question_title": row.get("question_title") or "",
            "platform": require(row, "platform", where, str),
            "difficulty": require(row, "difficulty", where, str),
            "contest_id": str(row.get("contest_id") or ""),
            "contest_date": contest_date,
            "starter_code": row.get("starter_code") or "",
            "public_tests": len(public),
            "private_tests": None if private is None else len(private),
            "time_limit": TIME_LIMIT,
            "load_time_limit": TIME_LIMIT,
        },
    )


def _json_field(row: dict[str, Any], key: str, where: str, kind: type) -> Any:
    text = require(row, key, where, str)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise PlumError(f"{where}: field {key!r} is not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        raise PlumError(f"{where}: field {key!r} must hold a JSON {kind.__name__}")
    return value


def lcb_test(case: Any, kind: str, where: str) -> TestCase:
    """A ``{input, output}`` object as a ``stdio`` or ``functional`` test (functional: inputs one
    JSON value per line, the output one JSON value, decoded here once)."""
    if not isinstance(case, dict) or not isinstance(case.get("input"), str) or not isinstance(case.get("output"), str):
        raise PlumError(f"{where}: expected an object with string 'input' and 'output'")
    if kind == "stdio":
        return TestCase(kind="stdio", inputs=case["input"], expected=case["output"], has_expected=True)
    try:
        for line in case["input"].split("\n"):
            parse_json(line)
        expected = parse_json(case["output"])
    except ValueError as exc:
        raise PlumError(f"{where}: functional test is not one JSON value per line ({exc})") from None
    return TestCase(kind="functional", inputs=case["input"], expected=expected, has_expected=True)


def decode_private_tests(value: Any, where: str) -> list[Any] | None:
    """LiveCodeBench's private tests: JSON text, or base64(zlib(pickle(JSON text))); None when
    absent. The pickle is read by an unpickler that refuses every global, so it can yield only
    plain data, and anything but a string is refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PlumError(f"{where}: private_test_cases must be a string or null")
    try:
        tests = json.loads(value)
    except ValueError:
        try:
            tests = json.loads(_unpickle_string(value, where))
        except ValueError as exc:
            raise PlumError(f"{where}: decoded private_test_cases are not JSON ({exc})") from None
    if not isinstance(tests, list):
        raise PlumError(f"{where}: private_test_cases must hold a JSON list")
    return tests


class _StringOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refers to {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("uses a persistent id")


def _unpickle_string(text: str, where: str) -> str:
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, PRIVATE_TESTS_MAX_BYTES)
        if inflater.unconsumed_tail:
            raise PlumError(f"{where}: private_test_cases decompress to more than {PRIVATE_TESTS_MAX_BYTES} bytes")
        value = _StringOnlyUnpickler(io.BytesIO(raw)).load()
    except PlumError:
        raise
    except (binascii.Error, UnicodeEncodeError, zlib.error) as exc:
        raise PlumError(f"{where}: private_test_cases is neither JSON nor base64 zlib data ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - every unpickling failure, refused globals included
        raise PlumError(f"{where}: private_test_cases pickle refused ({exc}); only a pickled string is accepted") from None
    if not isinstance(value, str):
        raise PlumError(f"{where}: private_test_cases pickle holds a {type(value).__name__}; only a string is accepted")
    return value
