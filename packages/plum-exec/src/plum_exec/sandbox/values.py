"""Plain values crossing the sandbox boundary, and how outputs are judged.

A program's outputs leave the sandbox only as *plain data*: values whose type is exactly one of
Python's builtin value types (``type(x) is int``, never a subclass), nested in builtin
containers. A program-defined object (say, one whose ``__eq__`` always returns True) cannot be
encoded, so it can never compare equal to anything outside. Encoding is a tagged JSON tree, so
the parent never unpickles anything a program produced.

Two tags exist only between the judge and the program's process (``judge``): ``R`` is a
reference to an object that stays in the program's process (an instance of a class the program
defines, a function), so tests can pass it back without ever holding it; ``I`` is an iterator the
program returned, delivered as the items it yielded.
"""

from __future__ import annotations

import builtins
import collections
import math
import sys

# Pinned: a program may replace names in the builtins module to fool these checks.
from builtins import bool, complex, dict, float, frozenset, int, list, repr, set, str, tuple, type  # noqa: UP029
from collections.abc import Callable
from functools import cache
from typing import Any

MAX_DEPTH = 100
MAX_NODES = 2_000_000


TOO_LARGE = "value too large or too deeply nested"


class NotPlainError(TypeError):
    """The value is not plain data (a program-defined type, or too deep/large)."""


_SCALARS = (type(None), bool, int, float, str)
_SCALAR_SET = frozenset(_SCALARS)
# The standard library's dict subclasses compare like dicts; they travel as plain dicts.
_DICT_TYPES = (dict, collections.defaultdict, collections.OrderedDict, collections.Counter)


def encode(value: Any, ref: Callable[[Any], int] | None = None) -> Any:
    """Encode a plain value as JSON-able data; raise NotPlainError otherwise.

    ``ref`` turns each value that is not plain data into a reference number (tag ``R``) instead;
    it may raise NotPlainError itself.
    """
    budget = [MAX_NODES]
    return _encode(value, 0, budget, ref)


def _encode(v: Any, depth: int, budget: list[int], ref: Callable[[Any], int] | None) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise NotPlainError(TOO_LARGE)
    t = type(v)
    if t in _SCALARS:
        if t is float and not math.isfinite(v):
            return {"f": repr(v)}
        return v
    if t is list or t is tuple:
        tag = "L" if t is list else "T"
        if _flat_scalars(v):  # the common large case, checked at C speed
            budget[0] -= len(v)
            if budget[0] < 0:
                raise NotPlainError(TOO_LARGE)
            return {tag: list(v)}
        return {tag: [_encode(x, depth + 1, budget, ref) for x in v]}
    if t is set or t is frozenset:
        items = [_encode(x, depth + 1, budget, ref) for x in v]
        return {"S" if t is set else "F": items}
    if t in _DICT_TYPES:
        pairs = [[_encode(k, depth + 1, budget, ref), _encode(x, depth + 1, budget, ref)] for k, x in v.items()]
        return {"D": pairs}
    if t is complex:
        return {"C": [v.real, v.imag]}
    if t is bytes:
        return {"B": v.decode("latin-1")}
    if t in _numpy_types():
        return _encode(v.tolist(), depth + 1, budget, ref)
    if t is type and getattr(builtins, v.__name__, None) is v:
        return {"Y": v.__name__}  # a builtin class (``type(x) == int`` checks, Mbpp/533's argument)
    if ref is not None:
        return {"R": ref(v)}
    raise NotPlainError(f"output of type {t.__name__} is not plain data")


def _flat_scalars(items: list[Any] | tuple[Any, ...]) -> bool:
    """All items are exact scalar types and every float is finite (JSON carries them as is)."""
    kinds = set(map(type, items))
    if not kinds <= _SCALAR_SET:
        return False
    return float not in kinds or all(map(math.isfinite, (x for x in items if type(x) is float)))


def _numpy_types() -> frozenset[type]:
    """numpy's own array and scalar types (exact types: subclasses are not plain), once loaded."""
    np = sys.modules.get("numpy")
    return _numpy_types_of(np) if np is not None else frozenset()


@cache
def _numpy_types_of(np: Any) -> frozenset[type]:
    return frozenset({np.ndarray, *(t for t in np.sctypeDict.values() if issubclass(t, np.generic))})


def decode(data: Any, ref: Callable[[int], Any] | None = None) -> Any:
    """Inverse of :func:`encode` (run by the trusted side on data from the sandbox). Only
    builtin types come out, whatever the data; ``ref`` turns reference numbers into objects.
    Malformed data raises ValueError, TypeError, AttributeError or RecursionError."""
    if not isinstance(data, dict):
        return data
    ((tag, payload),) = data.items()
    if tag == "L" or tag == "T":
        items = payload if dict not in set(map(type, payload)) else [decode(x, ref) for x in payload]
        return list(items) if tag == "L" else tuple(items)
    if tag == "S":
        return {decode(x, ref) for x in payload}
    if tag == "F":
        return frozenset(decode(x, ref) for x in payload)
    if tag == "D":
        return {decode(k, ref): decode(x, ref) for k, x in payload}
    if tag == "I":
        return iter(decode(payload, ref))
    if tag == "R" and ref is not None and type(payload) is int:
        return ref(payload)
    if tag == "C":
        return complex(*map(float, payload))
    if tag == "B":
        return str(payload).encode("latin-1")
    if tag == "f":
        return float(str(payload))
    if tag == "Y" and isinstance(getattr(builtins, str(payload), None), type):
        return getattr(builtins, str(payload))
    raise ValueError(f"unknown tag {tag!r}")


def outputs_match(
    out: Any, expected: Any, atol: float = 0.0, oracle: str = "exact", inputs: Any = ()
) -> bool:
    """Judge a decoded output against the expected one, as EvalPlus does.

    ``exact``: ``out == expected``; when that fails and the expectation is float-valued (or
    ``atol`` is set), same type, same length and ``allclose(rtol=1e-7, atol)`` with atol at least
    1e-6 for floats. Both sides are plain data, so ``==`` here is Python's own. The other oracles
    are EvalPlus's per-task rules (``records.TestCase``); ``poly_root`` and the alternative-
    solution ones also look at the test's ``inputs``.
    """
    if oracle == "always":
        return True
    if oracle == "set_eq":
        return _safe(lambda: set(out) == set(expected))
    if oracle == "not_none":
        return out == expected if isinstance(out, bool) else expected == (out is not None)
    if oracle == "poly_root":  # HumanEval/32: any root will do
        return _safe(lambda: abs(_poly(inputs[0], out)) <= atol)
    if out == expected:
        return True
    if oracle == "exact_or_zero" and out == 0:
        return True
    if oracle in _ALTERNATIVES and _safe(lambda: _ALTERNATIVES[oracle](out, inputs, atol)):
        return True
    if atol == 0 and _is_floats(expected):
        atol = 1e-6
    if atol == 0 or type(out) is not type(expected):
        return False
    return _safe(lambda: _allclose(out, expected, atol))


# EvalPlus 0.3.1's "special oracles" (evalplus/eval/_special_oracle.py): a second reading of
# the problem statement whose answers also count. They run here, outside the sandbox, on the
# benchmark's own inputs and a plain-data output.
def _poly(xs: list[float], x: float) -> float:
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _surface_area(base_edge: float, height: float) -> int:
    """Mbpp/581 read with "height" as the pyramid's perpendicular height."""
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance(num1: int, num2: int) -> int:
    """Mbpp/558 with the shorter number padded with leading zeros."""
    a, b = str(num1), str(num2)
    width = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(width), b.zfill(width), strict=True))


_ALTERNATIVES: dict[str, Any] = {
    "surface_area": lambda out, inputs, atol: abs(out - _surface_area(*inputs)) <= atol,
    "digit_distance": lambda out, inputs, atol: out == _digit_distance(*inputs),
}


def _is_floats(x: Any) -> bool:
    if isinstance(x, float):
        return True
    return isinstance(x, list | tuple) and bool(x) and all(isinstance(i, float) for i in x)


def _allclose(out: Any, expected: Any, atol: float) -> bool:
    import numpy as np

    if isinstance(expected, list | tuple) and len(out) != len(expected):
        return False
    return bool(np.allclose(out, expected, rtol=1e-7, atol=atol))


def _safe(check: Any) -> bool:
    try:
        return bool(check())
    except Exception:
        return False
