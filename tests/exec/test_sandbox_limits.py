"""What a program can do to the evaluation itself (issue 19, part 6): it must never choose
``infra_error``, hold the judge past its limits, or grow what the pool keeps without bound."""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from plum_exec.records import FAIL, INFRA_ERROR, PASS, TIMEOUT, TestCase
from plum_exec.sandbox import Job, Sandbox, SandboxConfig, namespace_available
from plum_exec.sandbox import pool as pool_module
from plum_exec.sandbox.remote import Channel, known_module

LEVELS = ["process", *(["namespace"] if namespace_available()[0] else [])]
ADD_TESTS = [TestCase("assert", "assert add(1, 2) == 3"), TestCase("check", "def check(candidate):\n    assert candidate(2, 3) + 0 == 5\n")]


def statuses(result) -> list[str]:
    return [o.status for o in result.outcomes]


def run_one(isolation: str, job: Job) -> object:
    with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sb:
        ((_, result),) = list(sb.run([job]))
    return result


@pytest.mark.parametrize("isolation", LEVELS)
def test_deeply_nested_folders_fail_the_program_not_the_worker(isolation: str) -> None:
    """1,500 nested folders made Python's recursive rmtree end the worker: infra_error twice."""
    program = "import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\ndef add(a, b):\n    return a - b\n"
    result = run_one(isolation, Job(program, ADD_TESTS, "add", load_time_limit=30.0))
    assert statuses(result) == [FAIL, FAIL], result.outcomes


def test_a_reference_where_plain_data_was_asked_is_a_failure(sandbox: Sandbox) -> None:
    """The entry point's reply tagged as an object of the program: not plain data (a fail), not a
    stand-in that trips the test's arithmetic into an unjudgeable infra_error."""
    program = (
        "import sys\n_values = sys.modules['plum_exec.sandbox.values']\n_encode = _values.encode\n"
        "def _forged(value, ref=None):\n    return {'R': 0} if type(value) is int else _encode(value, ref)\n"
        "_values.encode = _forged\n"
        "def add(a, b):\n    return a - b\n"
    )
    ((_, result),) = list(sandbox.run([Job(program, ADD_TESTS, "add")]))
    assert INFRA_ERROR not in statuses(result)
    assert statuses(result) == [FAIL, FAIL], result.outcomes
    assert "not plain data" in result.outcomes[1].message


def test_a_stream_of_junk_replies_ends_at_the_test_limit(sandbox: Sandbox) -> None:
    """Whole frames that answer nothing, written faster than the judge reads them: the judge used to read them until the job's
    whole wall clock (load limit + every test's limit), defeating stop_after_timeout."""
    program = (
        "import os, signal, struct\njunk = (struct.pack('>I', 2) + b'[]') * 10000\n"
        "def add(a, b):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        for fd in range(3, 12):\n"
        "            view = memoryview(junk)\n"
        "            while view:  # whole frames only: a partial write is finished, not restarted\n"
        "                try:\n                    view = view[os.write(fd, view):]\n"
        "                except OSError:\n                    break\n"
    )
    tests = [TestCase("assert", "assert add(1, 2) == 3")] * 3
    job = Job(program, tests, "add", time_limits=[0.5] * 3, load_time_limit=10.0, stop_after_timeout=True)
    started = time.monotonic()
    ((_, result),) = list(sandbox.run([job]))
    assert statuses(result) == [TIMEOUT] * 3, result.outcomes
    assert time.monotonic() - started < 5.0  # one limit and the judge's margin; the job's budget is 14.5 s


def test_a_livecodebench_error_message_is_cut(sandbox: Sandbox) -> None:
    """What the program's process reports as a test's message is cut before it reaches a row."""
    program = (
        "import sys\nsys.modules['plum_exec.sandbox.lcb_child'].execute = lambda test, namespace: {'s': 'error', 'm': 'x' * 5_000_000}\n"
        "class Solution:\n    def f(self, x):\n        return x\n"
    )
    job = Job(program, [TestCase("functional", inputs="1", expected=1, has_expected=True)], "f")
    ((_, result),) = list(sandbox.run([job]))
    assert result.outcomes[0].status != PASS
    assert 0 < len(result.outcomes[0].message) <= 500


def test_a_long_stdout_is_judged_in_constant_memory() -> None:
    """LiveCodeBench compares tokens as Decimals: 2M tokens took ~0.3 GB in the pool."""
    test = TestCase("stdio", inputs="", expected="1 2\n", has_expected=True)
    record = {"event": "test", "i": 0, "s": "pass", "t": 0.0, "o": "1 " * 2_000_000}
    tracemalloc.start()
    try:
        outcome, _ = pool_module._judge(test, record, 0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome.status == FAIL and "2000000 output tokens" in outcome.message
    assert peak < 50 * 1024 * 1024, peak
    # Whitespace the grader strips still passes, however long.
    padded = {**record, "o": "1" + " " * 2_000_000 + "2\n"}
    assert pool_module._judge(test, padded, 0.0)[0].status == PASS


class _Replies(Channel):
    def __init__(self, reply: dict) -> None:  # no pipes: only lookup's handling of a reply
        self.reply = reply

    def request(self, message: dict) -> dict:
        return self.reply


def test_the_judge_imports_only_modules_it_knows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A program names a module for one of its globals: the judge imports it only if it already
    has it or it is the standard library's, never a file the program could have written."""
    (tmp_path / "plum_probe_planted.py").write_text("PLANTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyError):
        _Replies({"module": "plum_probe_planted"}).lookup("helper", "add")
    assert "plum_probe_planted" not in sys.modules
    import json

    assert _Replies({"module": "json"}).lookup("j", "add") is json
    assert known_module("xml.dom") is not None and known_module("plum_probe_planted") is None


def test_the_folder_a_worker_starts_in_is_not_on_the_judges_path(sandbox: Sandbox) -> None:
    code = (
        "import os, sys\nstart = os.path.dirname(os.getcwd())\n"
        "assert not [p for p in sys.path if os.path.realpath(p or '.') in (start, os.getcwd())], sys.path\n"
    )
    ((_, result),) = list(sandbox.run([Job("def add(a, b):\n    return a + b\n", [TestCase("assert", code)], "add")]))
    assert statuses(result) == [PASS], result.outcomes


def test_one_judge_serves_a_workers_jobs_and_a_stuck_one_is_replaced() -> None:
    """The judge worker forks its judge child once: module state the tests' code changes is
    still there for the next job (the count goes 1, 2, ...). A judge that runs past a job's wall
    clock is killed and a fresh one judges the next job (the count starts again)."""
    count = (
        "import sys, types\nprobe = sys.modules.setdefault('_plum_judge_probe', types.ModuleType('_plum_judge_probe'))\n"
        "probe.count = getattr(probe, 'count', 0) + 1\nassert add(probe.count, 0) == 1\n"
    )
    stuck = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    add = "def add(a, b):\n    return a + b\n"
    jobs = [Job(add, [TestCase("assert", count)], "add"), Job(add, [TestCase("assert", count)], "add"),
            Job(add, [TestCase("assert", stuck)], "add", time_limits=[0.2], load_time_limit=0.5),
            Job(add, [TestCase("assert", count)], "add")]
    with Sandbox(SandboxConfig(workers=1, grace=0.2)) as sb:
        results = [result for _, result in sorted(sb.run(jobs))]
    assert [statuses(r) for r in results] == [[PASS], [FAIL], [TIMEOUT], [PASS]], [r.outcomes for r in results]


def test_io_calls_go_ahead_of_their_tests_and_keep_their_own_verdicts(sandbox: Sandbox) -> None:
    """The leading io tests' calls are sent before their tests run (a window at a time), the
    program answers them in order, and each test still gets its own verdict and time limit."""
    import os

    from plum_exec.sandbox.protocol import FrameReader
    from plum_exec.sandbox.remote import Clock, Remote

    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    for fd in (requests_w, replies_r):
        os.set_blocking(fd, False)
    channel = Channel(requests_w, replies_r, Clock())
    channel.queue_io([(i, [i], "exact", 1.0) for i in range(3)])
    for sequence in (1, 2, 3):
        os.write(replies_w, _frame({"q": sequence, "v": sequence * 10}))
    with channel.clock.limit(1.0):
        assert channel.call_io(Remote(channel, 0, plain_results=True), [0], "exact", 0) == 10
    reader = FrameReader(requests_r)
    sent = [json.loads(reader.read()) for _ in range(3)]  # all three, before tests 1 and 2 ran
    assert [(r["q"], r["a"], r["t"]) for r in sent] == [(1, {"L": [0]}, 1.0), (2, {"L": [1]}, 1.0), (3, {"L": [2]}, 1.0)]

    program = "def f(x):\n    while x == 2:\n        pass\n    return 2 * x\n"
    tests = [TestCase("io", inputs=[x], expected=want, has_expected=True) for x, want in ((1, 2), (2, 4), (3, 7), (4, 8))]
    ((_, result),) = list(sandbox.run([Job(program, tests, "f", time_limits=[0.3] * 4)]))
    assert statuses(result) == [PASS, TIMEOUT, FAIL, PASS], result.outcomes


def _frame(message: dict) -> bytes:
    payload = json.dumps(message).encode()
    return len(payload).to_bytes(4, "big") + payload
