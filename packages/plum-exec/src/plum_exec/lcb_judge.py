"""LiveCodeBench's comparison rules, run in the trusted process on what the sandbox sent back.

Pure functions, no execution. They follow ``lcb_runner/evaluation/testing_util.py``:

stdin/stdout (``stdio_matches``): both outputs are stripped and split on ``\\n``; each line is
stripped; the line counts must be equal; a pair of lines matches when the strings are equal or
when both are whitespace-separated lists of ``Decimal`` numbers that are equal element by element
(so ``1.50`` matches ``1.5``, ``1e2`` matches ``100``, but ``1.5000001`` does not match ``1.5``).

functional (``functional_matches``): the expected output is one JSON value; a returned tuple
becomes a list (only at the top: nested tuples stay tuples, as there); then Python's ``==``.
A returned numpy array is compared as numpy compares it, so one of several elements is a
runtime error there ("truth value of an array ... is ambiguous") and here.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from plum_exec.records import ERROR, FAIL, PASS, TestOutcome
from plum_exec.sandbox import values

KINDS = ("stdio", "functional")
MAX_INT_DIGITS = 50000  # LiveCodeBench's sys.set_int_max_str_digits(50000)
_CHUNK = 4000  # below Python's default int <-> str digit limit


def stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(token) for token in line.split()]
    except (InvalidOperation, ValueError):
        return None


def stdio_outcome(output: str, expected: str) -> tuple[str, str]:
    """(status, message) of stdout ``output`` against ``expected``: pass, or fail (wrong answer);
    error where LiveCodeBench's own comparison raises (a signalling ``sNaN`` token)."""
    got, want = stripped_lines(output), stripped_lines(expected)
    if len(got) != len(want):
        return FAIL, f"wrong answer: {len(got)} output lines, expected {len(want)}"
    for number, (line, wanted) in enumerate(zip(got, want, strict=True)):
        if line == wanted:
            continue
        numbers, wanted_numbers = _decimals(line), _decimals(wanted)
        wrong = FAIL, f"wrong answer at line {number}: {_short(line)} != {_short(wanted)}"
        if numbers is None or wanted_numbers is None:
            return wrong
        try:
            if not numbers == wanted_numbers:  # noqa: SIM201 - list ==, element by element, as there
                return wrong
        except ArithmeticError as exc:
            return ERROR, f"{type(exc).__name__} comparing line {number}"
    return PASS, ""


def stdio_matches(output: str, expected: str) -> bool:
    return stdio_outcome(output, expected)[0] == PASS


def parse_json(text: str) -> Any:
    """``json.loads`` that reads integers of up to 50,000 digits (as LiveCodeBench's process
    can) without changing this process's int digit limit."""
    return json.loads(text, parse_int=_big_int)


def _big_int(digits: str) -> int:
    negative = digits.startswith("-")
    body = digits[1:] if negative else digits
    if len(body) > MAX_INT_DIGITS:
        raise ValueError(f"integer of {len(body)} digits (more than {MAX_INT_DIGITS})")
    value = _int_of_digits(body)
    return -value if negative else value


def _int_of_digits(body: str) -> int:
    if len(body) <= _CHUNK:
        return int(body)
    half = len(body) // 2
    return _int_of_digits(body[:half]) * 10 ** (len(body) - half) + _int_of_digits(body[half:])


def functional_outcome(returned: Any, expected: Any, is_array: bool = False) -> tuple[str, str]:
    """(status, message) for a decoded return value against the decoded expected value."""
    if is_array:
        return _array_outcome(returned, expected)
    if isinstance(returned, tuple):
        returned = list(returned)
    try:
        equal = bool(returned == expected)
    except Exception as exc:  # noqa: BLE001 - a comparison that raises is a runtime error there too
        return ERROR, f"{type(exc).__name__}: {exc}"
    return (PASS, "") if equal else (FAIL, f"wrong answer: {_short(repr(returned))}")


def _array_outcome(returned: list[Any], expected: Any) -> tuple[str, str]:
    import numpy as np

    try:
        equal = bool(np.asarray(returned) == expected)
    except Exception as exc:  # noqa: BLE001 - numpy's "truth value ... is ambiguous"
        return ERROR, f"{type(exc).__name__}: {exc}"
    return (PASS, "") if equal else (FAIL, "wrong answer: numpy array")


def judge_record(kind: str, expected: Any, record: dict[str, Any], duration: float) -> TestOutcome:
    """The outcome of a test the program finished (record status ``pass``): ``expected`` is the
    expected stdout (``stdio``) or the decoded expected value (``functional``)."""
    if "np" in record:
        return TestOutcome(FAIL, duration, f"wrong answer: {record['np']}")
    if "big" in record:
        return TestOutcome(FAIL, duration, f"wrong answer: output of {record['big']} characters")
    output = record.get("o")
    if not isinstance(output, str):
        return TestOutcome(FAIL, duration, "malformed record")
    if kind == "stdio":
        status, message = stdio_outcome(output, expected)
        return TestOutcome(status, duration, message)  # type: ignore[arg-type]
    try:
        returned = values.decode(parse_json(output))
    except (ValueError, TypeError, AttributeError, RecursionError):
        return TestOutcome(FAIL, duration, "unreadable output")
    status, message = functional_outcome(returned, expected, record.get("nd") is True)
    return TestOutcome(status, duration, message)  # type: ignore[arg-type]


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "...(truncated)..." + text[-limit // 2 :]
