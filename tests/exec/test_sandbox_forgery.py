"""Programs that try to forge a pass instead of computing it must get none, at every isolation level.

The expected value is a secret drawn per test run: the honest answer is ``f(1) == SECRET``, and
every forger's own ``f`` returns -1. A forger passes only by reaching the judge (its record
writer, its guards, its memory) or by finding the secret somewhere in its own process. Each is
written against how an in-process judge works (frames, ``gc``, ``sys.modules``, memory, fds).
"""

from __future__ import annotations

import os
import random
import textwrap

import pytest

from plum_exec.records import INFRA_ERROR, PASS, TestCase
from plum_exec.sandbox import Job, Sandbox, SandboxConfig, namespace_available
from plum_exec.sandbox.confinement import landlock_abi, seccomp_unavailable_reason

SECRET = random.randrange(10**6, 10**7)
TESTS = [
    TestCase("assert", f"assert f(1) == {SECRET}"),
    TestCase("assert", f"assert abs(f(1) - {SECRET}) < 1e-9"),
    TestCase("assert", f"assert math.isclose(f(1), {SECRET})"),
    TestCase("assert", f"assert not f(1) != {SECRET}"),
    TestCase("assert", f"assert sorted([f(1), f(1)]) == [{SECRET}] * 2"),
    TestCase("assert", f"assert set([f(1)]) == {{{SECRET}}} and all([f(1) == {SECRET}])"),
    TestCase("io", inputs=[1], expected=SECRET, has_expected=True),
    TestCase("check", f"def check(candidate):\n    assert candidate(1) == {SECRET}\n"),
]
HONEST = f"def f(x):\n    return {SECRET}\n"

# Pass records in the shapes an in-process judge used, for every test index.
_RECORDS = f"""
RECORDS = [{{"event": "loaded", "error": None, "t": 0.0}}] + [
    {{"event": "test", "i": i, "s": "pass", "t": 0.0}} for i in range({len(TESTS)})
]
"""

FORGERS = {
    # 1. Walk up the frames to the judge's record writer and its job, write passes, leave.
    "frame_walk_writer": _RECORDS + textwrap.dedent("""
        import os, sys
        def forge():
            frame = sys._getframe()
            while frame is not None:
                for name, value in list(frame.f_locals.items()):
                    if callable(value) and name in ("write", "emit", "send", "record", "reply"):
                        for record in RECORDS:
                            try:
                                value(record)
                            except BaseException:
                                pass
                frame = frame.f_back
        forge()
        def f(x):
            forge()
            os._exit(0)
    """),
    # 2. Find the writer among the objects the collector tracks.
    "gc_writer": _RECORDS + textwrap.dedent("""
        import gc, os, types
        def forge():
            for obj in gc.get_objects():
                if type(obj) is types.FunctionType and obj.__name__ in ("emit", "write", "send_frame", "write_frame"):
                    for record in RECORDS:
                        try:
                            obj(record)
                        except BaseException:
                            pass
        forge()
        def f(x):
            forge()
            os._exit(0)
    """),
    # 3. Replace the judge's functions through sys.modules.
    "sys_modules_guards": textwrap.dedent("""
        import sys
        def yes(*args, **kwargs):
            return True
        for name, module in list(sys.modules.items()):
            if name.startswith("plum_exec"):
                for attr in list(vars(module)):
                    if attr in ("_guard_compare", "_guard_truth", "_apply", "outputs_match", "_value", "program_exception"):
                        setattr(module, attr, yes)
        def f(x):
            return -1
    """),
    # 4. Find the expected value in this process's memory: job dicts on the stack or the heap,
    #    or anywhere in the address space.
    "steal_expected_value": textwrap.dedent(r"""
        import gc, re, sys
        PATTERN = re.compile(rb"(?:f|candidate)\(1\) == (\d{7})")
        def from_objects():
            frame, found = sys._getframe(), []
            while frame is not None:
                found += [v for v in frame.f_locals.values() if isinstance(v, dict)]
                frame = frame.f_back
            found += [o for o in gc.get_objects() if isinstance(o, dict) and "tests" in o]
            for job in found:
                for test in job.get("tests", []) if isinstance(job.get("tests"), list) else []:
                    m = PATTERN.search(str(test).encode())
                    if m:
                        return int(m.group(1))
        def from_memory():
            import ctypes
            with open("/proc/self/maps") as maps:
                for line in maps:
                    bounds, perms = line.split()[:2]
                    if "r" not in perms or "[v" in line:
                        continue
                    start, end = (int(x, 16) for x in bounds.split("-"))
                    if end - start > 1 << 28:
                        continue
                    m = PATTERN.search(ctypes.string_at(start, end - start))
                    if m:
                        return int(m.group(1))
        STOLEN = from_objects() or from_memory()
        def f(x):
            return STOLEN if STOLEN is not None else -1
    """),
    # 5. Claim passes on every inherited fd, in every framing an exchange might use.
    "fake_replies_and_records": _RECORDS + textwrap.dedent("""
        import json, os, struct
        def spray():
            for fd in range(0, 256):
                for q in range(0, 40):
                    for message in ({"q": q, "s": "pass"}, {"q": q, "pass": True}, {"q": q, "v": True}, {"loaded": None}):
                        data = json.dumps(message).encode()
                        for chunk in (struct.pack(">I", len(data)) + data, data + b"\\n"):
                            try:
                                os.write(fd, chunk)
                            except OSError:
                                pass
                for record in RECORDS:
                    try:
                        os.write(fd, (json.dumps(record) + "\\n").encode())
                    except OSError:
                        pass
        spray()
        def f(x):
            spray()
            print(json.dumps({"event": "test", "i": 0, "s": "pass"}))
            return -1
    """),
    # 6. Shadow the names tests use for their checks.
    "shadow_checks": textwrap.dedent(f"""
        class math:
            isclose = staticmethod(lambda a, b: True)
        abs = lambda x: 0
        sorted = lambda items: [{SECRET}] * 2
        set = lambda items: {{{SECRET}}}
        all = lambda items: True
        def f(x):
            return -1
    """),
    # 7. Values that lie about equality, at the top and nested.
    "lying_values": textwrap.dedent("""
        class Yes(int):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = int.__hash__
        def f(x):
            return Yes(-1)
    """),
    # 8. Exceptions named like a judge's own, or that end processes.
    "special_exceptions": textwrap.dedent("""
        class TestTimeout(BaseException): pass
        class ProgramGone(BaseException): pass
        class Pass(BaseException): pass
        import itertools
        kinds = itertools.cycle([Pass, TestTimeout, ProgramGone, SystemExit, KeyboardInterrupt, GeneratorExit, StopIteration])
        def f(x):
            raise next(kinds)()
    """),
    # 9. A forked survivor that keeps writing fake replies and records after the job moved on.
    "fork_survivor": _RECORDS + textwrap.dedent("""
        import json, os, struct, time
        if os.fork() == 0:
            os.setsid()
            end = time.time() + 3
            while time.time() < end:
                for fd in range(3, 64):
                    for q in range(1, 20):
                        data = json.dumps({"q": q, "v": True, "s": "pass"}).encode()
                        try:
                            os.write(fd, struct.pack(">I", len(data)) + data)
                            os.write(fd, (json.dumps(RECORDS[min(q, len(RECORDS) - 1)]) + "\\n").encode())
                        except OSError:
                            pass
                time.sleep(0.01)
            os._exit(0)
        def f(x):
            return -1
    """),
    # 10. Reach other processes: their fds, their memory, signals.
    "reach_other_processes": _RECORDS + textwrap.dedent("""
        import ctypes, json, os, signal
        me = os.getpid()
        def reach():
            for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]:
                try:
                    ctypes.CDLL(None).ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
                except Exception:
                    pass
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for fd in fds:
                    try:
                        w = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                    except OSError:
                        continue
                    for record in RECORDS:
                        try:
                            os.write(w, (json.dumps(record) + "\\n").encode())
                        except OSError:
                            pass
                    os.close(w)
        reach()
        def f(x):
            reach()
            return -1
    """),
    # 11. Patch builtins and the ways out, then answer wrongly.
    "patched_builtins_and_exit": textwrap.dedent("""
        import builtins, os, sys
        builtins.isinstance = lambda *a: True
        builtins.type = lambda *a: int
        builtins.abs = lambda x: 0
        sys.exit = lambda *a: os._exit(0)
        def f(x):
            sys.exit(0)
    """),
    # 12. Garbage and oversized frames on the reply pipe, then an honest-looking wrong answer.
    "garbage_replies": textwrap.dedent("""
        import os, struct
        for fd in range(3, 64):
            for chunk in (b"\\xff" * 100, struct.pack(">I", 2**31) + b"{", b"\\x00\\x00\\x00\\x05[[[[["):
                try:
                    os.write(fd, chunk)
                except OSError:
                    pass
        def f(x):
            return -1
    """),
}


def _isolation_levels() -> list[str]:
    levels = []
    if namespace_available()[0]:
        levels.append("namespace")
    # As root, process isolation adds a dedicated uid and netns; an ordinary user's program and
    # judge share a uid, and seccomp + Landlock (signals scoped from ABI 6) stand between them.
    if os.geteuid() == 0 or (seccomp_unavailable_reason() is None and landlock_abi() >= 6):
        levels.append("process")
    return levels


LEVELS = _isolation_levels()
pytestmark = pytest.mark.skipif(not LEVELS, reason="needs bubblewrap namespaces, root, or seccomp + Landlock ABI 6")


def _job(program: str) -> Job:
    return Job(program, TESTS, "f", setup="import math", time_limits=[1.0] * len(TESTS), load_time_limit=5.0)


@pytest.mark.parametrize("isolation", LEVELS)
def test_no_forger_gets_a_pass(isolation: str) -> None:
    names = list(FORGERS)
    config = SandboxConfig(workers=2, isolation=isolation, memory_mb=1024, max_processes=32)
    with Sandbox(config) as sandbox:
        results = dict(sandbox.run([_job(HONEST)] + [_job(FORGERS[n]) for n in names]))
    honest = [o.status for o in results[0].outcomes]
    assert honest == [PASS] * len(TESTS), results[0].outcomes  # the tests can be passed
    for i, name in enumerate(names, start=1):
        statuses = [o.status for o in results[i].outcomes]
        assert PASS not in statuses, f"{name}: forged a pass: {results[i].outcomes}"
        assert INFRA_ERROR not in statuses, f"{name}: {results[i].outcomes}"
