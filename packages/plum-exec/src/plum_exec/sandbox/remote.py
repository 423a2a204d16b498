"""The judge's view of the program: a channel of requests and stand-ins for the program's objects.

Test code runs in the judge unchanged; every name it takes from the program resolves through
``JudgeNamespace`` to a ``Remote`` (functions, classes, instances: calls, attribute reads and
writes go to the program's process), a module (imported here, from the judge's own files) or a
plain value. What comes back is decoded plain data, so every comparison, ``not``,
``math.isclose`` or ``set(...) ==`` in a test runs here, on values the program cannot make lie.
A ``Remote`` itself refuses to be compared or tested for truth (as a value of the program's own
type would be: not plain data), and refuses what only the program's code could answer (``len``,
iteration, ``str``, arithmetic): that is a test the judge cannot split (``Unjudgeable``).
"""

from __future__ import annotations

import builtins
import collections
import importlib
import json
import signal
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from plum_exec.sandbox import values
from plum_exec.sandbox.protocol import FrameError, FrameReader, write_frame

AHEAD_BYTES = 32 * 1024  # requests sent ahead and not yet answered: half a pipe's buffer
STUCK_MARGIN = 1.0  # seconds past a test's limit the judge waits for the program's own timeout reply


class TestTimeout(BaseException):
    """The test ran out of time (in the program, or in the test code here)."""


class ProgramGone(BaseException):
    """The program's process closed its end: it exited or was killed."""


class ProgramStuck(BaseException):
    """The program did not answer by its limit plus ``STUCK_MARGIN`` (it ignores its alarm)."""


class ProgramGarbage(BaseException):
    """The program wrote something that is not a reply."""


class Unjudgeable(BaseException):
    """The test needs something only the program's own code could evaluate, or passes the
    program something that is not plain data: it cannot be judged outside the program."""


# BaseExceptions, all of them: ``except Exception`` in test code must not swallow them.
STOPS = (ProgramGone, ProgramStuck, ProgramGarbage)


class Clock:
    """The running test's deadline. The alarm interrupts test code running here, but never a
    request half-written or a reply half-read: it is deferred until the exchange is over."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.in_exchange = False
        self.expired = False
        signal.signal(signal.SIGALRM, self._on_alarm)

    @contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        self.deadline, self.expired = time.monotonic() + seconds, False
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
        try:
            yield
        finally:
            self.deadline = None  # first: an alarm handled after this point is ignored
            signal.setitimer(signal.ITIMER_REAL, 0)

    def remaining(self) -> float:
        if self.deadline is None:
            raise RuntimeError("no test is running")
        return self.deadline - time.monotonic()

    def give_up_at(self) -> float:
        assert self.deadline is not None
        return self.deadline + STUCK_MARGIN

    @contextmanager
    def exchange(self, late_counts: bool = True) -> Iterator[None]:
        """A request and its reply; a reply after the deadline is a timeout when ``late_counts``."""
        self.in_exchange = True
        try:
            yield
        finally:
            self.in_exchange = False
        if self.expired and late_counts:
            raise TestTimeout()

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self.deadline is None:
            return  # the test ended as the alarm went off
        if self.in_exchange:
            self.expired = True
        else:
            raise TestTimeout()


class Channel:
    """Requests to the program's process and its replies, matched by sequence number."""

    def __init__(self, requests_fd: int, replies_fd: int, clock: Clock):
        self.requests_fd = requests_fd
        self.reader = FrameReader(replies_fd)
        self.clock = clock
        self.sequence = 0
        self.remotes: dict[int, Remote] = {}
        # io calls whose arguments are known before any answer, sent ahead of their tests:
        # (test index, inputs, oracle, seconds) queued; test index -> (sequence, bytes) sent.
        self.queued: collections.deque[tuple[int, Any, str, float]] = collections.deque()
        self.sent: dict[int, tuple[int, int]] = {}
        self.sent_bytes = 0

    def await_loaded(self) -> tuple[str | None, int | None]:
        """The program's load report: its error message (or None) and the entry point's object
        number. The program times its own loading: a report that arrives within
        ``STUCK_MARGIN`` of the limit is taken."""
        with self.clock.exchange(late_counts=False):
            reply = self._receive(lambda message: "loaded" in message)
        error, entry = reply["loaded"], reply.get("entry")
        return None if error is None else str(error)[:500], entry if type(entry) is int else None

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        remaining = self.clock.remaining()
        if remaining <= 0:
            raise TestTimeout()
        self.sequence += 1
        sequence = self.sequence
        payload = json.dumps({**message, "q": sequence, "t": remaining}).encode()
        with self.clock.exchange():
            self._send(payload)
            return self._receive(lambda reply: reply.get("q") == sequence)

    def _send(self, payload: bytes) -> None:
        """One request frame to the program: a closed pipe means it is gone, a full one past the
        limit that it stopped reading."""
        try:
            write_frame(self.requests_fd, payload, self.clock.give_up_at())
        except BrokenPipeError:
            raise ProgramGone() from None
        except TimeoutError:
            raise ProgramStuck() from None

    def _receive(self, wanted: Any) -> dict[str, Any]:
        """The next reply ``wanted`` accepts; others are stale (a request given up on) or noise."""
        while True:
            try:
                frame = self.reader.read(self.clock.give_up_at())
            except TimeoutError:
                raise ProgramStuck() from None
            except FrameError:
                raise ProgramGarbage() from None
            if frame is None:
                raise ProgramGone()
            try:
                reply = json.loads(frame)
            except (ValueError, RecursionError):
                raise ProgramGarbage() from None
            if type(reply) is dict and wanted(reply):
                return reply
            if time.monotonic() > self.clock.give_up_at():
                raise ProgramStuck()  # a stream of unwanted replies is not an answer either

    # -- operations on the program's objects ------------------------------------------------
    def lookup(self, name: str, entry_point: str | None) -> Any:
        """The program's global ``name``; KeyError when it has none."""
        reply = self.request({"op": "name", "name": name})
        if reply.get("missing") is True:
            raise KeyError(name)
        if "module" in reply:
            module = known_module(str(reply["module"]))
            if module is None:
                raise KeyError(name)
            return module
        value = self._value(reply)
        if name == entry_point and type(value) is Remote:
            return Remote(self, value._number, plain_results=True)
        return value

    def call(self, target: Remote, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        sent_args, sent_kwargs = self._encode(list(args)), self._encode(kwargs)
        mode = "plain" if target._plain_results else "any"
        reply = self.request({"op": "call", "r": target._number, "a": sent_args, "k": sent_kwargs, "mode": mode})
        result = self._value(reply, plain=target._plain_results)
        if "a" in reply:
            after = self._decode(reply["a"])
            for original, now in zip(args, after if type(after) is list else [], strict=False):
                update_in_place(original, now)
        if "k" in reply:
            after = self._decode(reply["k"])
            for key, original in kwargs.items():
                if type(after) is dict and key in after:
                    update_in_place(original, after[key])
        return result

    def call_io(self, target: Remote, inputs: list[Any], oracle: str, index: int | None = None) -> Any:
        """An io test's call: the output as the program encoded it (the pool decodes and judges).
        The calls queued with ``queue_io`` go ahead of their tests, a window at a time (the
        program answers in order; expected values never cross, so seeing later inputs early
        gains it nothing), and test ``index`` takes its reply."""
        self._send_ahead(target)
        if index in self.sent:
            sequence, size = self.sent.pop(index)
            with self.clock.exchange():
                reply = self._receive(lambda reply: reply.get("q") == sequence)
            self.sent_bytes -= size
        else:
            reply = self.request(_io_request(target, self._encode(list(inputs)), oracle))
        if "v" in reply:
            return reply["v"]
        return self._value(reply)

    def queue_io(self, calls: list[tuple[int, Any, str, float]]) -> None:
        """io calls (test index, inputs, oracle, the test's seconds) to send ahead of their tests."""
        self.queued.extend(calls)

    def _send_ahead(self, target: Remote) -> None:
        """Send queued calls while what is sent and unanswered fits in half a pipe: the judge
        never blocks writing while the program blocks writing its replies."""
        while self.queued:
            index, inputs, oracle, seconds = self.queued[0]
            self.sequence += 1
            payload = json.dumps({**_io_request(target, self._encode(list(inputs)), oracle), "q": self.sequence, "t": seconds}).encode()
            if self.sent and self.sent_bytes + len(payload) > AHEAD_BYTES:
                self.sequence -= 1
                return
            self.queued.popleft()
            with self.clock.exchange(late_counts=False):
                self._send(payload)
            self.sent[index] = (self.sequence, len(payload))
            self.sent_bytes += len(payload)

    def lcb(self, test: dict[str, Any]) -> Any:
        """A LiveCodeBench test's fields as the program's process reported them."""
        reply = self.request({"op": "lcb", "test": test})
        return reply["lcb"] if "lcb" in reply else self._value(reply)

    def getattr(self, target: Remote, name: str) -> Any:
        return self._value(self.request({"op": "getattr", "r": target._number, "name": name}))

    def setattr(self, target: Remote, name: str, value: Any) -> None:
        self._value(self.request({"op": "setattr", "r": target._number, "name": name, "v": self._encode(value)}))

    # -- values -----------------------------------------------------------------------------
    def _value(self, reply: dict[str, Any], plain: bool = False) -> Any:
        """The reply's value; with ``plain`` a reference is not plain data (a fail), never a
        stand-in the test could then trip over (an ``Unjudgeable``, which the program must not
        be able to choose)."""
        if "v" in reply:
            return self._decode(reply["v"], plain)
        if reply.get("timeout") is True:
            raise TestTimeout()
        if "not_plain" in reply:
            raise values.NotPlainError(str(reply["not_plain"])[:500])
        if "raise" in reply and type(reply["raise"]) is list and len(reply["raise"]) == 3:
            raise program_exception(*map(str, reply["raise"]))
        raise ProgramGarbage()

    def _decode(self, data: Any, plain: bool = False) -> Any:
        try:
            return values.decode(data, _no_reference if plain else self._remote)
        except values.NotPlainError:
            raise
        except (ValueError, TypeError, AttributeError, LookupError, RecursionError, MemoryError):
            raise ProgramGarbage() from None

    def _encode(self, value: Any) -> Any:
        try:
            return values.encode(value, _number_of)
        except values.NotPlainError as exc:
            raise Unjudgeable(str(exc)) from None

    def _remote(self, number: int) -> Remote:
        if number not in self.remotes:
            self.remotes[number] = Remote(self, number)
        return self.remotes[number]


def _io_request(target: Remote, arguments: Any, oracle: str) -> dict[str, Any]:
    return {"op": "call", "r": target._number, "a": arguments, "k": {"D": []}, "mode": "not_none" if oracle == "not_none" else "io"}


def known_module(name: str) -> types.ModuleType | None:
    """The judge's own module of that name, for a module the program holds under a global: one
    already imported here (preloads, the setup's and the tests' imports) or from the standard
    library, never a name only the program knows (its file could be the program's code)."""
    module = sys.modules.get(name)
    if type(module) is types.ModuleType:
        return module
    if name.partition(".")[0] not in sys.stdlib_module_names:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _no_reference(number: int) -> Any:
    raise values.NotPlainError("a value of the program's own type is not plain data")


def _number_of(value: Any) -> int:
    if type(value) is Remote:
        return value._number
    raise values.NotPlainError(
        f"the test passes a {type(value).__name__} to the program; only plain data and the program's own objects cross"
    )


def update_in_place(original: Any, now: Any) -> None:
    """Carry a call's change to a list, dict or set argument back to the test's own object."""
    if type(original) is list and type(now) is list:
        original[:] = now
    elif type(original) in (dict, set) and type(original) is type(now):
        original.clear()
        original.update(now)


def program_exception(name: str, base: str, message: str) -> BaseException:
    """An exception standing for one the program raised: the builtin class it derives from,
    under the program's own class name, so ``except ValueError`` in a test still catches it."""
    kind = getattr(builtins, base, None)
    if not (isinstance(kind, type) and issubclass(kind, BaseException)):
        kind = Exception
    try:
        if name != kind.__name__:
            kind = type(name, (kind,), {})
        exc = kind.__new__(kind)
        exc.args = (message,)
        return exc
    except Exception:  # noqa: BLE001 - a name or base no class can be made from
        return Exception(f"{name}: {message}")


class Remote:
    """An object that lives in the program's process: calls and attribute access go there."""

    __slots__ = ("_channel", "_number", "_plain_results")

    def __init__(self, channel: Channel, number: int, plain_results: bool = False):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_number", number)
        # The entry point must return plain data (or a builtin iterator), as it always had to.
        object.__setattr__(self, "_plain_results", plain_results)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.call(self, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol probes (copy, pickle, ...) are not the program's
        return self._channel.getattr(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._channel.setattr(self, name, value)

    def _not_plain(self, *args: Any) -> Any:
        raise values.NotPlainError("a value of the program's own type is not plain data")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = _not_plain
    __hash__ = object.__hash__


def _unjudgeable(name: str) -> Any:
    def refuse(self: Remote, *args: Any) -> Any:
        raise Unjudgeable(f"{name}() of an object of the program needs the program's own code")

    return refuse


_OPERATORS = (
    ["add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod", "pow", "lshift", "rshift", "and", "or", "xor"]
)
for _name in (
    ["len", "iter", "next", "reversed", "contains", "getitem", "setitem", "delitem", "str", "repr", "format", "bytes", "int", "float", "complex", "index", "round", "abs", "neg", "pos", "invert", "enter", "exit", "reduce", "reduce_ex"]
    + _OPERATORS
    + [f"r{op}" for op in _OPERATORS]
    + [f"i{op}" for op in _OPERATORS]
):
    setattr(Remote, f"__{_name}__", _unjudgeable(_name))


class JudgeNamespace(dict):  # type: ignore[type-arg]
    """The test code's globals. A name the tests do not bind and that is not a builtin is the
    program's (``candidate``'s helpers, its classes, its imports), looked up on first use."""

    def __init__(self, channel: Channel, entry_point: str | None, entry_number: int | None = None):
        super().__init__(__name__="__main__", __builtins__=builtins)
        self.channel = channel
        self.entry_point = entry_point
        if entry_point and entry_number is not None:
            self[entry_point] = Remote(channel, entry_number, plain_results=True)

    def __missing__(self, name: str) -> Any:
        if type(name) is not str or name.startswith("__"):
            raise KeyError(name)
        if name != self.entry_point and hasattr(builtins, name):
            raise KeyError(name)  # Python falls back to the judge's own builtins
        value = self.channel.lookup(name, self.entry_point)
        if type(value) is Remote or type(value) is types.ModuleType:
            self[name] = value  # plain values are read again: the program may change them
        return value

    def entry(self) -> Any:
        """The entry point (``candidate`` in check tests)."""
        assert self.entry_point is not None
        return self[self.entry_point]
