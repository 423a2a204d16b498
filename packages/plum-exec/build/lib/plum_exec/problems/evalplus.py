"""EvalPlus's dataset format (HumanEval+, MBPP+): release download with a cache, and per-task tables.

A row holds ``task_id``, ``prompt``, ``entry_point``, ``canonical_solution``, ``base_input``,
``plus_input`` (argument lists as JSON) and ``atol``. Expected outputs are not in the file: they
come from running the reference (``plum_exec.problems.ground_truth``). Two per-task tables live in
``evalplus_tasks.json`` as data, documented in docs/evaluation.md:
- ``inputs``: argument types JSON cannot express (tuples, sets, complex numbers), rebuilt before
  the call exactly as EvalPlus 0.3.1's ``mbpp_deserialize_inputs`` does;
- ``oracles``: tasks whose outputs EvalPlus judges by another rule than equality.
"""

from __future__ import annotations

import gzip
import json
import sys
import urllib.request
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.jsonl import require, write_jsonl
from plum_exec.problems.common import cache_dir, io_tests
from plum_exec.records import Problem

# The versions EvalPlus 0.3.1 evaluates by default (evalplus/data/{humaneval,mbpp}.py).
RELEASES = {"humaneval+": ("HumanEvalPlus", "v0.1.10"), "mbpp+": ("MbppPlus", "v0.2.0")}
RELEASE_URL = (
    "https://github.com/evalplus/{repo}_release/releases/download/{version}/{name}.jsonl.gz"
)


def release_file(benchmark: str) -> Path:
    """The cached release file of ``benchmark``, downloaded on first use as EvalPlus does."""
    name, version = RELEASES[benchmark]
    path = cache_dir() / f"{name}-{version}.jsonl"
    if not path.is_file():
        download_jsonl_gz(RELEASE_URL.format(repo=name.lower(), version=version, name=name), path)
    return path


def download_jsonl_gz(url: str, path: Path) -> None:
    """Fetch a gzipped JSONL file and store it decompressed; an interrupted download leaves nothing."""
    print(f"plum: downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            text = gzip.decompress(response.read()).decode("utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise PlumError(
            f"could not download {url} ({exc}); pass --dataset-path to use a local copy"
        ) from None
    write_jsonl(path, rows)


def is_evalplus_row(row: dict[str, Any]) -> bool:
    return "base_input" in row and "plus_input" in row


def evalplus_problem(row: dict[str, Any], where: str) -> Problem:
    """One EvalPlus task as a Problem with io tests (base and plus) awaiting expected outputs."""
    task_id = require(row, "task_id", where, str)
    prompt = require(row, "prompt", where, str)
    oracle = tables()["oracles"].get(task_id, "exact")
    kinds = tables()["inputs"].get(task_id)
    base, plus = (_inputs(row, key, where) for key in ("base_input", "plus_input"))
    if kinds is not None:
        base, plus = (
            [convert_arguments(args, kinds) for args in inputs] for inputs in (base, plus)
        )
    return Problem(
        task_id=task_id,
        prompt=prompt,
        entry_point=require(row, "entry_point", where, str),
        tests=io_tests(base, oracle),
        plus_tests=io_tests(plus, oracle),
        has_plus=True,
        reference=prompt + require(row, "canonical_solution", where, str),
        atol=float(require(row, "atol", where, (int, float))),
    )


def _inputs(row: dict[str, Any], key: str, where: str) -> list[Any]:
    inputs = require(row, key, where, (list, dict))
    if inputs == {}:  # some releases store "no inputs" as {} (Mbpp/793); EvalPlus iterates it
        return []
    if not isinstance(inputs, list) or not all(isinstance(args, list) for args in inputs):
        raise PlumError(f"{where}: field '{key}' must be a list of argument lists")
    return inputs


@cache
def tables() -> dict[str, dict[str, Any]]:
    text = (
        resources.files("plum_exec.problems")
        .joinpath("evalplus_tasks.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def convert_arguments(args: list[Any], kinds: str | list[str]) -> list[Any]:
    """Rebuild an argument list: one kind for every argument, or one per leading argument."""
    if isinstance(kinds, str):
        kinds = [kinds] * len(args)
    return [convert(arg, kind) for arg, kind in zip(args, kinds, strict=False)] + list(
        args[len(kinds) :]
    )


def convert(value: Any, kind: str) -> Any:
    """Turn one JSON value into the type ``kind`` names (grammar in docs/evaluation.md)."""
    if kind == "any":
        return value
    if kind == "float":
        return float(value)
    if kind == "complex":
        return complex(value)
    if kind == "deep_tuple":
        return tuple(convert(v, kind) for v in value) if isinstance(value, list) else value
    if kind == "set_or_empty_dict":  # EvalPlus's rule for Mbpp/115, kept so verdicts match
        return set(value) if isinstance(value, list) and value else {}
    outer, _, inner = kind.partition("[")
    inner = inner[:-1] or "any"
    if outer == "dict":
        return {key: convert(v, inner) for key, v in value.items()}
    if not isinstance(value, list):
        return value
    items = [convert(v, inner) for v in value]
    if outer == "tuple":
        return tuple(items)
    if outer == "list":
        return items
    raise ValueError(f"unknown input kind {kind!r}")
