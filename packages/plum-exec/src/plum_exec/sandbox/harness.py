"""What runs inside the program's process: load the program, then answer the judge's requests.

This process decides nothing. No test code, no expected value and no verdict ever enters it:
the judge (``judge``, another process) runs the tests and sends only the calls they make into
the program. Whatever runs here can only shape the values it sends back, and those are plain
data (``values``) that the judge compares itself.

Requests are JSON frames, each with ``q`` (sequence number, echoed in the reply) and ``t``
(seconds left for the test). ``r`` names an object of this process by number: objects that are
not plain data stay here and the judge holds only their numbers.

- ``{"op": "name", "name": N}``: the program's global ``N``, as a value, a ``module`` name, or
  ``missing``. (The entry point's number comes with the load report: ``{"loaded": null, "entry": R}``.)
- ``{"op": "call", "r": R, "a": ARGS, "k": KWARGS, "mode": M}``: call object ``R``. Modes:
  ``io`` (the result must be plain data), ``not_none`` (io, with a non-bool result sent as
  ``result is not None``: EvalPlus judges only whether a value came back), ``plain`` (plain
  data or a builtin iterator: the entry point called by test code), ``any`` (objects that are
  not plain become references). The reply carries the arguments again (``a``, ``k``) when the
  call changed them, so tests can check in-place updates.
- ``{"op": "getattr", "r": R, "name": N}`` and ``{"op": "setattr", "r": R, "name": N, "v": V}``.
- ``{"op": "lcb", "test": {"kind": K, "inputs": I}}``: a LiveCodeBench ``stdio`` or
  ``functional`` test run as its grader runs it (``lcb_child``); the reply's ``lcb`` holds what
  it printed or returned, which the pool compares with the expected output (``lcb_judge``).

Replies: ``{"v": VALUE}``, ``{"raise": [type, builtin base, message]}``, ``{"timeout": true}``
or ``{"not_plain": message}``. The program may write anything to the reply pipe instead: the
judge treats unreadable replies as the program breaking down, and a readable one as no more than
a value the program chose to return.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import signal
import sys
import types

# Pin the real builtins: a program may replace names in the builtins module.
from builtins import (  # noqa: UP029
    BaseException,
    bool,
    callable,
    float,
    getattr,
    id,
    int,
    len,
    list,
    max,
    setattr,
    str,
    type,
)
from typing import Any

from plum_exec.sandbox import lcb_child, values
from plum_exec.sandbox.protocol import FrameReader, write_frame

MESSAGE_LIMIT = 500


class TestTimeout(BaseException):
    """Raised by the per-request alarm. A BaseException, so ``except Exception`` in a program
    cannot swallow it (a program that blocks signals is given up on by the judge)."""


def _builtin_iterator_types() -> frozenset[type]:
    samples: list[Any] = [
        iter([]), iter(()), iter(""), iter(set()), iter({}), iter(range(0)), iter(b""),
        {}.keys(), {}.values(), {}.items(), iter({}.values()), iter({}.items()),
        reversed([]), reversed(range(0)), enumerate([]), zip(), map(abs, []), filter(None, []),
        range(0), (x for x in ()),
    ]
    return frozenset(type(s) for s in samples)


_ITERATOR_TYPES = _builtin_iterator_types()


def serve(job: dict[str, Any], requests_fd: int, replies_fd: int) -> None:
    """Load the program, say so, then answer requests until the judge closes its end."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    error = _load(job, namespace)
    _flush_output()
    program = _Program(namespace)
    loaded: dict[str, Any] = {"loaded": error}
    if error is None and job["entry_point"] and not job.get("lcb"):
        loaded["entry"] = program._number(namespace[job["entry_point"]])  # saves the judge a lookup
    write_frame(replies_fd, json.dumps(loaded).encode())
    if error is not None:
        return
    reader = FrameReader(requests_fd)
    while (frame := reader.read()) is not None:
        reply = program.answer(json.loads(frame))
        _flush_output()  # what the program printed is on file before the judge moves on
        write_frame(replies_fd, reply)


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # a program may have closed or replaced them
            stream.flush()


def _load(job: dict[str, Any], namespace: dict[str, Any]) -> str | None:
    """Exec setup and program under the load time limit; return an error message or None."""
    try:
        with _alarm(job["load_time_limit"]):
            if job.get("lcb"):  # loaded as LiveCodeBench's grader loads it
                return lcb_child.load({**job, "tests": [{"kind": job["lcb"]}]}, namespace)
            for part, name in ((job["setup"], "<setup>"), (job["program"], "<program>")):
                if part:
                    exec(compile(part, name, "exec"), namespace)
        entry = job["entry_point"]
        if entry and not callable(namespace.get(entry)):
            return f"entry point {entry!r} is not defined"
    except TestTimeout:
        return "timeout: loading the program took too long"
    except BaseException as exc:  # noqa: BLE001 - anything the program raises is its failure
        return describe(exc)
    return None


class _Program:
    """The loaded program's namespace and the objects the judge holds numbers for."""

    def __init__(self, namespace: dict[str, Any]):
        self.namespace = namespace
        self.objects: list[Any] = []
        self.numbers: dict[int, int] = {}

    def answer(self, request: dict[str, Any]) -> bytes:
        reply: dict[str, Any] = {"q": request.get("q")}
        try:
            with _alarm(request["t"]):
                reply.update(self._dispatch(request))
                return json.dumps(reply).encode()  # inside the alarm: large values take time
        except TestTimeout:
            reply = {"q": request.get("q"), "timeout": True}
        except values.NotPlainError as exc:
            reply = {"q": request.get("q"), "not_plain": str(exc)}
        except BaseException as exc:  # noqa: BLE001 - what the program raised, reported as such
            reply = {"q": request.get("q"), "raise": exception_fields(exc)}
        return json.dumps(reply).encode()

    def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "name":
            return self._name(request["name"])
        if op == "lcb":  # a LiveCodeBench test: stdout or the returned value, judged in the pool
            return {"lcb": lcb_child.execute(request["test"], self.namespace)}
        target = self._object(request["r"])
        if op == "call":
            return self._call(target, request)
        if op == "getattr":
            return {"v": values.encode(getattr(target, str(request["name"])), self._number)}
        if op == "setattr":
            setattr(target, str(request["name"]), values.decode(request["v"], self._object))
            return {"v": None}
        raise ValueError(f"unknown request {op!r}")

    def _name(self, name: str) -> dict[str, Any]:
        if name not in self.namespace:
            return {"missing": True}
        value = self.namespace[name]
        if type(value) is types.ModuleType:
            return {"module": str(value.__name__)}
        return {"v": values.encode(value, self._number)}

    def _call(self, target: Any, request: dict[str, Any]) -> dict[str, Any]:
        args = values.decode(request["a"], self._object)
        kwargs = values.decode(request["k"], self._object)
        result = target(*args, **kwargs)
        mode = request["mode"]
        if mode == "not_none" and type(result) is not bool:
            result = result is not None
        if mode in ("io", "not_none"):
            return {"v": values.encode(result)}
        ref = self._number if mode == "any" else None
        if type(result) in _ITERATOR_TYPES:
            reply = {"v": {"I": values.encode(list(result), ref)}}
        else:
            reply = {"v": values.encode(result, ref)}
        for key, sent, now in (("a", request["a"], args), ("k", request["k"], kwargs)):
            after = values.encode(now, self._number)
            if after != sent:
                reply[key] = after
        return reply

    def _number(self, obj: Any) -> int:
        number = self.numbers.get(id(obj))
        if number is None:
            number = self.numbers[id(obj)] = len(self.objects)
            self.objects.append(obj)  # kept alive, so its id is never reused
        return number

    def _object(self, number: Any) -> Any:
        if type(number) is not int or not 0 <= number < len(self.objects):
            raise LookupError(f"no object number {number!r}")
        return self.objects[number]


def exception_fields(exc: BaseException) -> list[str]:
    """Type name, the nearest builtin exception class it derives from, and the message."""
    base = next(
        (c.__name__ for c in type(exc).__mro__ if getattr(builtins, c.__name__, None) is c),
        "BaseException",
    )
    return [type(exc).__name__, base, _message(exc)]


def describe(exc: BaseException) -> str:
    name, _, message = exception_fields(exc)
    return f"{name}: {message}"[:MESSAGE_LIMIT]


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:MESSAGE_LIMIT]
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break the harness
        return ""


class _alarm:
    """Per-request wall-clock limit with SIGALRM; the judge gives up on a program that ignores it."""

    def __init__(self, seconds: float):
        self.seconds = max(float(seconds), 0.001)

    def __enter__(self) -> None:
        signal.signal(signal.SIGALRM, _raise_timeout)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _raise_timeout(signum: int, frame: Any) -> None:
    raise TestTimeout()
