"""The execution engine's verdicts, isolation levels and fault handling."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from plum_exec.errors import PlumError
from plum_exec.records import ERROR, FAIL, INFRA_ERROR, PASS, TIMEOUT, TestCase
from plum_exec.sandbox import Job, Sandbox, SandboxConfig, namespace_available, resolve_isolation
from plum_exec.sandbox import pool as pool_module
from plum_exec.sandbox.values import NotPlainError, decode, encode, outputs_match

ADD = "def add(a, b):\n    return a + b\n"


def statuses(result) -> list[str]:
    return [o.status for o in result.outcomes]


@pytest.mark.parametrize(
    "value",
    [0, -3, True, None, 1.5, float("inf"), "é", b"\x00\xff", (1, [2, {3: (4,)}]), {1, 2}, frozenset({"a"}), 2 - 1j, [], {}, int, (str, list)],
)
def test_plain_values_round_trip_exactly(value) -> None:
    back = decode(encode(value))
    assert back == value and type(back) is type(value)


def test_program_defined_types_are_not_plain() -> None:
    class Liar:
        def __eq__(self, other):
            return True

    class Int(int):
        pass

    for value in (Liar(), Int(3), [1, Liar()], {"k": Int(1)}, iter([1])):
        with pytest.raises(NotPlainError):
            encode(value)


def test_output_judgement_follows_evalplus() -> None:
    assert outputs_match(0.1 + 0.2, 0.3)  # floats get atol 1e-6 by default
    assert not outputs_match(0.31, 0.3)
    assert outputs_match([1.0, 2.0000001], [1.0, 2.0])
    assert not outputs_match((1, 2), [1, 2])  # tuple is not list
    assert outputs_match(1, 1.0) and outputs_match(True, 1)  # Python's == on plain data
    assert outputs_match(10.4, 10.0, atol=0.5) and not outputs_match(11.0, 10.0, atol=0.5)
    assert outputs_match([3, 1], [1, 3], oracle="set_eq")


def test_evalplus_special_oracles() -> None:
    # HumanEval/32: any root of xs[0] + xs[1] x + ... passes, not only the reference's
    xs = [-6, 11, -6, 1]  # (x - 1)(x - 2)(x - 3)
    assert outputs_match(3.0, 1.0, 1e-6, "poly_root", [xs])
    assert not outputs_match(1.5, 1.0, 1e-6, "poly_root", [xs])
    assert not outputs_match("1.0", 1.0, 1e-6, "poly_root", [xs])
    # Mbpp/558: the reference's value, or the zero-padded reading of the problem
    assert outputs_match(4, 4, 0.0, "digit_distance", [123, 5])
    assert outputs_match(1 + 2 + 2, 4, 0.0, "digit_distance", [123, 5])  # 123 vs 005
    assert not outputs_match(7, 4, 0.0, "digit_distance", [123, 5])
    # Mbpp/581: the reference's value, or the perpendicular-height reading within atol
    assert outputs_match(33, 33, 0.0, "surface_area", [3, 4])
    assert outputs_match(35, 33, 0.5, "surface_area", [3, 4])  # round(9 + 6 * sqrt(18.25))
    assert not outputs_match(40, 33, 0.5, "surface_area", [3, 4])
    assert outputs_match("anything", None, oracle="always")
    assert outputs_match(0, 5, oracle="exact_or_zero") and not outputs_match(1, 5, oracle="exact_or_zero")
    assert outputs_match(None, False, oracle="not_none") and outputs_match(7, True, oracle="not_none")


def test_per_test_verdicts(sandbox: Sandbox) -> None:
    tests = [
        TestCase("assert", "assert add(1, 2) == 3"),
        TestCase("assert", "assert add(1, 2) == 4"),
        TestCase("assert", "assert add('a', 1) == 'a1'"),
        TestCase("assert", "while True:\n    pass"),
        TestCase("io", inputs=[2, 3], expected=5, has_expected=True),
        TestCase("io", inputs=[2, 3], expected=6, has_expected=True),
        TestCase("io", inputs=[[1], [2]]),
        TestCase("check", "def check(candidate):\n    assert candidate(0, 0) == 0\n"),
    ]
    limits = [1.0, 1.0, 1.0, 0.2, 1.0, 1.0, 1.0, 1.0]
    ((_, result),) = list(sandbox.run([Job(ADD, tests, "add", time_limits=limits)]))
    assert statuses(result) == [PASS, FAIL, ERROR, TIMEOUT, PASS, FAIL, PASS, PASS]
    assert result.outputs[4] == 5 and result.outputs[6] == [1, 2]
    assert "TypeError" in result.outcomes[2].message


def test_tests_compiled_once_per_worker_behave_as_compiled_in_the_judge(sandbox: Sandbox) -> None:
    from plum_exec.sandbox import judge

    job = Job(ADD, [TestCase("assert", "assert add(1, 2) == 3"), TestCase("io", inputs=[1, 1])], "add")
    message = job.judge_message("id", 1.0)
    assert judge.precompile_tests(message) and not judge.precompile_tests(message)
    assert judge.compile_test("assert add(1, 2) == 3") is judge.compile_test("assert add(1, 2) == 3")
    broken = [TestCase("assert", "assert add(1, 2) ==")]
    assert not judge.precompile_tests(Job(ADD, broken, "add").judge_message("id", 1.0))
    # The same tests on many programs: verdicts per program, and a test that does not compile
    # is the program's error, whichever worker compiled what before.
    wrong = ADD.replace("a + b", "a - b")
    jobs = [Job(p, job.tests + broken, "add") for p in (ADD, wrong) * 4]
    results = dict(sandbox.run(jobs))
    for i in range(len(jobs)):
        assert statuses(results[i]) == ([PASS, PASS, ERROR] if i % 2 == 0 else [FAIL, PASS, ERROR])
        assert "SyntaxError" in results[i].outcomes[2].message


def test_load_errors_fail_every_test(sandbox: Sandbox) -> None:
    tests = [TestCase("assert", "assert add(1, 2) == 3")] * 2
    jobs = [
        Job("def add(a, b) return", tests, "add"),
        Job("def plus(a, b):\n    return a + b\n", tests, "add"),
        Job("import time\ntime.sleep(5)\n" + ADD, tests, "add", load_time_limit=0.3),
    ]
    results = dict(sandbox.run(jobs))
    assert statuses(results[0]) == [ERROR, ERROR] and "SyntaxError" in results[0].outcomes[0].message
    assert statuses(results[1]) == [ERROR, ERROR] and "not defined" in results[1].outcomes[0].message
    assert statuses(results[2]) == [TIMEOUT, TIMEOUT]


def test_stdout_is_captured_and_capped() -> None:
    with Sandbox(SandboxConfig(workers=1, output_limit=100)) as sb:
        program = "print('hello from the program')\nimport sys\nprint('x' * 1000, file=sys.stderr)\n" + ADD
        ((_, result),) = list(sb.run([Job(program, [TestCase("assert", "assert add(1, 1) == 2")], "add")]))
    assert result.stdout.startswith("hello from the program")
    assert len(result.stderr) == 100


def test_results_do_not_depend_on_worker_count() -> None:
    programs = [ADD, "def add(a, b):\n    return a - b\n", "def add(a, b):\n    raise ValueError\n"] * 10
    tests = [TestCase("assert", f"assert add({i}, 1) == {i + 1}") for i in range(3)]
    jobs = [Job(p, tests, "add") for p in programs]
    by_count = {}
    for workers in (1, 2):
        with Sandbox(SandboxConfig(workers=workers)) as sb:
            by_count[workers] = {i: statuses(r) for i, r in sb.run(jobs)}
    assert by_count[1] == by_count[2]
    assert by_count[1][0] == [PASS] * 3 and by_count[1][1] == [FAIL] * 3


def _kill_workers_during(sb: Sandbox, times: int, role: str) -> threading.Thread:
    def killer() -> None:
        killed: list[object] = []
        deadline = time.monotonic() + 20
        while len(killed) < times and time.monotonic() < deadline:
            slot = sb._slots[0] if sb._slots else None
            if slot is None or slot in killed or slot.busy is None:
                time.sleep(0.01)
                continue
            time.sleep(0.3)  # mid-job
            os.killpg(getattr(slot, role).proc.pid, signal.SIGKILL)
            killed.append(slot)
    thread = threading.Thread(target=killer)
    thread.start()
    return thread


@pytest.mark.parametrize("role", ["program", "judge"])
@pytest.mark.parametrize("kills, expected", [(1, PASS), (2, INFRA_ERROR)])
def test_worker_faults_are_retried_once_then_infra_error(kills: int, expected: str, role: str) -> None:
    program = "import time\ndef add(a, b):\n    time.sleep(0.8)\n    return a + b\n"
    job = Job(program, [TestCase("assert", "assert add(1, 2) == 3")], "add", time_limits=[2.0])
    with Sandbox(SandboxConfig(workers=1)) as sb:
        thread = _kill_workers_during(sb, kills, role)
        ((_, result),) = list(sb.run([job]))
        thread.join()
        assert statuses(result) == [expected]
        ((_, again),) = list(sb.run([Job(ADD, [TestCase("assert", "assert add(1, 2) == 3")], "add")]))
        assert statuses(again) == [PASS]


def test_requiring_unavailable_namespace_isolation_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    namespace_available.cache_clear()
    monkeypatch.setattr(pool_module.shutil, "which", lambda name: None)
    try:
        with pytest.raises(PlumError, match="bubblewrap"):
            resolve_isolation("namespace")
        assert resolve_isolation("auto") == "process"
    finally:
        namespace_available.cache_clear()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to switch to an ordinary user")
@pytest.mark.skipif(not namespace_available()[0], reason="needs bubblewrap")
def test_works_as_an_ordinary_user() -> None:
    script = (
        "from plum_exec.records import TestCase\n"
        "from plum_exec.sandbox import Job, Sandbox, SandboxConfig\n"
        "with Sandbox(SandboxConfig(workers=1, isolation='namespace')) as sb:\n"
        f"    jobs = [Job({ADD!r}, [TestCase('assert', 'assert add(1, 2) == 3')], 'add'),\n"
        "            Job('import os, signal\\ndef add(a, b):\\n    os.kill(-1, signal.SIGKILL)\\n', [TestCase('assert', 'assert add(1, 2) == 3')], 'add')]\n"
        "    print(sb.isolation, [r.outcomes[0].status for _, r in sorted(sb.run(jobs))])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "packages" / "plum-exec" / "src"), "HOME": "/nonexistent"}
    # plum_exec.sandbox needs only the standard library, so the system interpreter can run it even
    # where the test environment's own interpreter is not readable by other users.
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", python, "-c"]
    probe = subprocess.run([*as_nobody, "import plum_exec"], capture_output=True, env=env, cwd="/")
    if probe.returncode != 0:
        pytest.skip("the ordinary user cannot read this Python environment")
    proc = subprocess.run([*as_nobody, script], capture_output=True, text=True, timeout=120, env=env, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "namespace ['pass', 'error']"


@pytest.mark.parametrize("isolation", [level for level in ("namespace", "process") if level == "namespace" and namespace_available()[0] or level == "process"])
def test_any_standard_module_imports_in_the_job(isolation: str) -> None:
    """The job's dedicated uid must read the interpreter even where it lives in a private home."""
    program = "import cmath, array, textwrap, wave, zlib\ndef f(x):\n    return cmath.sqrt(-x).imag\n"
    with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sb:
        ((_, result),) = list(sb.run([Job(program, [TestCase("io", inputs=[4], expected=2.0, has_expected=True)], "f")]))
    assert statuses(result) == [PASS], result.outcomes


def test_standard_dict_subclasses_compare_like_dicts(sandbox: Sandbox) -> None:
    program = "from collections import Counter, defaultdict\ndef f(s):\n    return Counter(s)\n"
    tests = [TestCase("assert", "assert f('aab') == {'a': 2, 'b': 1}"), TestCase("io", inputs=["aab"], expected={"a": 2, "b": 1}, has_expected=True)]
    ((_, result),) = list(sandbox.run([Job(program, tests, "f")]))
    assert statuses(result) == [PASS, PASS]


def test_tests_use_the_programs_objects_without_holding_them(sandbox: Sandbox) -> None:
    """MBPP's Mbpp/367 and Mbpp/601 build the program's own objects and pass them back."""
    program = (
        "class Node:\n    def __init__(self, data):\n        self.data, self.left = data, None\n"
        "def depth(node):\n    return 0 if node is None else 1 + depth(node.left)\n"
        "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def total(pairs):\n    return sum(p.a + p.b for p in pairs)\n"
        "def sort_in_place(items):\n    items.sort()\n"
        "class Odd(ValueError):\n    pass\n"
        "def check_even(n):\n    if n % 2:\n        raise Odd(n)\n    return n\n"
    )
    tests = [
        TestCase("assert", "root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)\nassert depth(root) == 3"),
        TestCase("assert", "assert root.left.data == 2 and depth(root.left) == 2"),
        TestCase("assert", "assert total([Pair(1, 2), Pair(3, 4)]) == 10"),
        TestCase("assert", "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]"),
        TestCase("assert", "try:\n    check_even(3)\n    assert False\nexcept ValueError:\n    pass"),
        TestCase("assert", "assert Node(1) == Node(1)"),  # a program's own type is not plain data
        TestCase("assert", "assert len(Node(1)) == 1"),  # only the program's code could answer
        TestCase("assert", "assert total([lambda: 1]) == 1"),  # a function of the test cannot cross
    ]
    ((_, result),) = list(sandbox.run([Job(program, tests, "depth")]))
    assert statuses(result) == [PASS] * 5 + [FAIL, INFRA_ERROR, INFRA_ERROR], result.outcomes
    assert "cannot be judged outside the program" in result.outcomes[6].message
    assert "function" in result.outcomes[7].message


def test_the_entry_point_may_share_a_builtins_name_but_helpers_may_not_replace_builtins(sandbox: Sandbox) -> None:
    program = "def sorted(xs):\n    return list(xs)\nabs = lambda x: 0\n"
    tests = [
        TestCase("assert", "assert sorted([2, 1]) == [2, 1]"),  # the program's entry point
        TestCase("assert", "assert abs(sorted([1])[0] - 5) < 1"),  # the judge's own abs
    ]
    ((_, result),) = list(sandbox.run([Job(program, tests, "sorted")]))
    assert statuses(result) == [PASS, FAIL]


def test_a_program_that_ignores_its_time_limit_is_given_up_on_quickly(sandbox: Sandbox) -> None:
    program = "import signal\ndef f(x):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        pass\n"
    tests = [TestCase("assert", "assert f(1) == 1")] * 5
    started = time.monotonic()
    ((_, result),) = list(sandbox.run([Job(program, tests, "f", time_limits=[0.3] * 5)]))
    assert statuses(result) == [TIMEOUT] * 5
    assert "did not stop" in result.outcomes[1].message
    assert time.monotonic() - started < 0.3 + 2 * 1.0 + 1.0  # one limit and the margin, not five
