"""LiveCodeBench's two test kinds: its comparison rules (pure), and programs run in the sandbox
giving the verdicts its grader gives (lcb_runner/evaluation/testing_util.py)."""

from __future__ import annotations

import textwrap
import time

import pytest
from test_sandbox_hostile import HOSTILE, LEVELS, _config, _marker_processes

from plum_exec.lcb_judge import functional_outcome, parse_json, stdio_outcome
from plum_exec.records import ERROR, FAIL, PASS, TIMEOUT, TestCase
from plum_exec.sandbox import Job, Sandbox
from plum_exec.sandbox.lcb_child import inline_main_block, stdio_source

# ---------------------------------------------------------------- comparison rules (pure)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("3\n", "3"),
        ("1 2 3   \n", "1 2 3"),  # trailing spaces
        ("  1 2 3", "1 2 3"),  # leading spaces
        ("1.50\n", "1.5"),  # equal as Decimal
        ("100", "1e2"),
        ("0.1 0.20", "0.10 0.2"),
        ("YES\n\n\n", "YES\n"),  # blank lines at the end vanish with the strip
        ("\n\nYES", "YES"),
        ("a\r\nb\r\n", "a\nb"),  # \r is stripped with each line
        ("1  2", "1 2"),  # numbers: any whitespace between tokens
        ("1\t2\x0c", "1 2"),  # str.split() and str.strip() whitespace, as there
        ("a\nb", "a\r\nb\r\n"),  # \r in the expected output, stripped the same way
        ("YES\u00a0\n", "YES"),  # str.strip() removes Unicode spaces
        ("", ""),
    ],
)
def test_stdio_outputs_that_match(output: str, expected: str) -> None:
    assert stdio_outcome(output, expected) == (PASS, "")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("(1, 2)\n", "1 2"),  # a printed tuple
        ("[1, 2]", "1 2"),
        ("1.5000001", "1.5"),  # no tolerance: Decimal equality
        ("yes", "YES"),
        ("a  b", "a b"),  # words are compared as strings, inner spaces count
        ("1\n\n2", "1\n2"),  # a blank line inside changes the line count
        ("1\n2\n3", "1\n2"),  # an extra line after right ones
        ("1\n2", "1\n2\n3"),  # a missing last line
        ("1 2", "1\n2"),
        ("nan", "NaN"),  # both Decimal NaN, and NaN is never equal
        ("3", ""),
        ("", "3"),
        # Lines are split on "\n" only (LiveCodeBench's get_stripped_lines), never str.splitlines():
        # a lone \r, \v, \f, \x1c-\x1e, \x85 or \u2028 joins two lines into one, a wrong answer.
        ("1\r2", "1\n2"),
        ("1\x0b2", "1\n2"),
        ("1\x0c2", "1\n2"),
        ("1\x1c2", "1\n2"),
        ("1\x852", "1\n2"),
        ("1\u20282", "1\n2"),
        ("a\rb", "a\nb"),
        ("1\n2", "1\r2"),
    ],
)
def test_stdio_outputs_that_are_wrong_answers(output: str, expected: str) -> None:
    assert stdio_outcome(output, expected)[0] == FAIL


def test_a_signalling_nan_raises_in_lcbs_comparison_so_it_is_a_runtime_error() -> None:
    assert stdio_outcome("sNaN", "1")[0] == ERROR


@pytest.mark.parametrize(
    ("returned", "expected", "status"),
    [
        ((1, 2), [1, 2], PASS),  # a returned tuple becomes a list
        ([(1, 2)], [[1, 2]], FAIL),  # only at the top level
        (True, 1, PASS),  # Python's ==
        (2.0, 2, PASS),
        (0.30000000000000004, 0.3, FAIL),  # no float tolerance
        ({"a": 1}, {"a": 1}, PASS),
        ({1: 2}, {"1": 2}, FAIL),
        ({1, 2}, [1, 2], FAIL),
        (None, None, PASS),
        ("abc", "abc", PASS),
    ],
)
def test_functional_comparison(returned: object, expected: object, status: str) -> None:
    assert functional_outcome(returned, expected)[0] == status


def test_a_numpy_array_of_several_elements_is_a_runtime_error_as_in_lcb() -> None:
    assert functional_outcome([1, 2], [1, 2], is_array=True)[0] == ERROR
    assert functional_outcome([3], 3, is_array=True)[0] == PASS
    assert functional_outcome([3], [4], is_array=True)[0] == FAIL


def test_expected_values_read_integers_up_to_lcbs_digit_limit() -> None:
    digits = "7" * 20000  # beyond Python's default 4300-digit limit
    sevens = 7 * (10**20000 - 1) // 9
    assert parse_json(f"[{digits}, -{digits}]") == [sevens, -sevens]
    with pytest.raises(ValueError):
        parse_json("1" * 50001)


def test_a_trailing_main_block_is_inlined_and_only_that_one() -> None:
    program = "def main():\n    print(1)\nif __name__ == \"__main__\":\n    main()\n"
    assert inline_main_block(program).splitlines()[-1] == "main()"
    not_last = "if __name__ == '__main__':\n    main()\nx = 1\n"
    assert inline_main_block(not_last) == not_last
    assert "def wrapped_function():" in stdio_source(program)


# ---------------------------------------------------------------- programs in the sandbox

SUM = [
    TestCase("stdio", inputs="1 2\n", expected="3\n", has_expected=True),
    TestCase("stdio", inputs="20 22\n", expected="42\n", has_expected=True),
]
SUM_PROGRAMS = {
    "right": ("a, b = map(int, input().split())\nprint(a + b)\n", [PASS, PASS]),
    "right_with_main_guard": (
        "import sys\ndef main():\n    a, b = map(int, sys.stdin.readline().split())\n    print(a + b)\n"
        "if __name__ == '__main__':\n    main()\n",
        [PASS, PASS],
    ),
    "trailing_spaces_and_blank_lines": ("a, b = map(int, input().split())\nprint(a + b, '  ')\nprint()\nprint()\n", [PASS, PASS]),
    "float_formatting": ("a, b = map(int, input().split())\nprint(f'{a + b:.2f}')\n", [PASS, PASS]),  # 3.00 == 3
    "printed_tuple": ("a, b = map(int, input().split())\nprint((a + b,))\n", [FAIL]),
    "wrong_answer": ("print(3)\n", [PASS, FAIL]),
    "exit_after_answer": ("a, b = map(int, input().split())\nprint(a + b)\nexit()\nprint('never')\n", [PASS, PASS]),
    "sys_exit_after_answer": ("import sys\nprint(sum(map(int, input().split())))\nsys.exit(1)\n", [PASS, PASS]),
    "quit_is_disabled_there": ("print(sum(map(int, input().split())))\nquit()\n", [ERROR]),
    "runtime_error": ("a, b = map(int, input().split())\nprint(a + b)\nraise ValueError('late')\n", [ERROR]),
    "assertion_is_a_runtime_error": ("assert False\n", [ERROR]),
    "reads_past_the_input": ("input()\ninput()\n", [ERROR]),
    "endless": ("while True:\n    pass\n", [TIMEOUT]),
    "syntax_error": ("print(1\n", [ERROR]),
    # The program body becomes a function: `global` in a nested function sees no top-level name.
    "global_statement": (
        "total = 0\ndef add(x):\n    global total\n    total += x\nfor v in map(int, input().split()):\n    add(v)\nprint(total)\n",
        [ERROR],
    ),
    # Its stdin stand-in: buffer.readline() is always the first line.
    "buffer_readline_repeats_the_first_line": (
        "import sys\nsys.stdin.buffer.readline()\nprint(sum(map(int, sys.stdin.buffer.readline().split())))\n",
        [PASS, PASS],
    ),
    "iterating_stdin_fails_there": ("import sys\nfor line in sys.stdin:\n    print(sum(map(int, line.split())))\n", [ERROR]),
    # `from sys import stdin` binds the real stdin at load time; only its readline is patched.
    "stdin_bound_at_load": ("from sys import stdin\nprint(sum(map(int, stdin.readline().split())))\n", [PASS, PASS]),
    "stdin_read_whole": ("import sys\nprint(sum(map(int, sys.stdin.read().split())))\n", [PASS, PASS]),
    "open_0_reads_nothing_there": ("print(sum(map(int, open(0).read().split())))\n", [FAIL]),
    "not_main_module": ("if __name__ == '__main__':\n    print(3)\nx = 1\n", [FAIL]),
    "class_solution_text_in_stdin_program": ("class Solution:\n    pass\nprint(sum(map(int, input().split())))\n", [ERROR]),
    "big_int_digits": ("print(len(str(10 ** 20000)) - 20001 + sum(map(int, input().split())))\n", [PASS, PASS]),
    "numpy_available": ("import numpy as np\nprint(int(np.array(list(map(int, input().split()))).sum()))\n", [PASS, PASS]),
    "os_getcwd_disabled_there": ("import os\nos.getcwd()\nprint(3)\n", [ERROR]),
    "resource_blocked_there": ("import resource\nprint(3)\n", [ERROR]),
}


def lcb_view(statuses: list[str]) -> list[str]:
    """What LiveCodeBench reports: the tests up to its first failure (it stops there)."""
    failed = next((i for i, s in enumerate(statuses) if s != PASS), len(statuses) - 1)
    return statuses[: failed + 1]


def _stdio_job(program: str) -> Job:
    return Job(program, SUM, None, time_limits=[1.0, 1.0], load_time_limit=5.0)


def test_stdio_programs_get_lcbs_verdicts(sandbox: Sandbox) -> None:
    names = list(SUM_PROGRAMS)
    results = dict(sandbox.run([_stdio_job(SUM_PROGRAMS[n][0]) for n in names]))
    got = {n: lcb_view([o.status for o in results[i].outcomes]) for i, n in enumerate(names)}
    assert got == {n: SUM_PROGRAMS[n][1] for n in names}


def test_line_ends_reach_the_comparison_as_the_program_wrote_them(sandbox: Sandbox) -> None:
    """\\r\\n line ends pass; a lone \\r (or \\u2028) is no line end there, so two numbers joined
    by it are one line: a wrong answer against two lines."""
    two_lines = [TestCase("stdio", inputs="", expected="1\n2\n", has_expected=True)]
    programs = {
        "crlf": ("print(1, end='\\r\\n')\nprint(2, end='\\r\\n')\n", PASS),
        "lone_cr": ("print(1, end='\\r')\nprint(2)\n", FAIL),
        "line_separator": ("print(1, end='\\u2028')\nprint(2)\n", FAIL),
        "lf": ("print(1)\nprint(2)\n", PASS),
    }
    results = dict(sandbox.run([Job(program, two_lines, None, time_limits=[1.0]) for program, _ in programs.values()]))
    got = {name: results[i].outcomes[0].status for i, name in enumerate(programs)}
    assert got == {name: status for name, (_, status) in programs.items()}


def test_expected_output_never_enters_the_child(sandbox: Sandbox) -> None:
    secret = "31415926535"
    test = TestCase("stdio", inputs="x\n", expected=secret, has_expected=True)
    program = "import gc\nfound = [o for o in gc.get_objects() if isinstance(o, str) and '31415926535' in o]\nprint(len(found))\n"
    (_, result), = sandbox.run([Job(program, [test], None, time_limits=[2.0])])
    assert result.outcomes[0].status == FAIL
    assert result.outcomes[0].message.startswith("wrong answer at line 0: 0 != ")  # found nowhere


TWO_SUM = [
    TestCase("functional", inputs="[2, 7, 11, 15]\n9", expected=[0, 1], has_expected=True),
    TestCase("functional", inputs="[3, 2, 4]\n6", expected=[1, 2], has_expected=True),
]
SOLUTION = textwrap.dedent("""
    class Solution:
        def twoSum(self, nums: List[int], target: int) -> List[int]:
            seen = {}
            for i, x in enumerate(nums):
                if target - x in seen:
                    return RESULT
                seen[x] = i
""")
TWO_SUM_PROGRAMS = {
    "right": (SOLUTION.replace("RESULT", "[seen[target - x], i]"), [PASS, PASS]),
    "returns_tuple": (SOLUTION.replace("RESULT", "(seen[target - x], i)"), [PASS, PASS]),
    "returns_nested_tuple": (SOLUTION.replace("RESULT", "[(seen[target - x], i)][0:1]"), [FAIL]),
    "wrong": (SOLUTION.replace("RESULT", "[i, seen[target - x]]"), [FAIL]),
    "module_function": ("def twoSum(nums, target):\n    return [0, 1]\n", [PASS, FAIL]),
    "numpy_array": ("import numpy as np\nclass Solution:\n    def twoSum(self, nums, target):\n        return np.array([0, 1])\n", [ERROR]),
    "numpy_scalars": ("import numpy as np\nclass Solution:\n    def twoSum(self, nums, target):\n        return [np.int64(0), np.int64(1)]\n", [PASS, FAIL]),
    "missing_method": ("class Solution:\n    def other(self, nums, target):\n        return [0, 1]\n", [ERROR]),
    "raises": ("class Solution:\n    def twoSum(self, nums, target):\n        return nums[10]\n", [ERROR]),
    "endless": ("class Solution:\n    def twoSum(self, nums, target):\n        while True:\n            pass\n", [TIMEOUT]),
    "lies_about_equality": (
        "class A:\n    def __eq__(self, o):\n        return True\nclass Solution:\n    def twoSum(self, nums, target):\n        return A()\n",
        [FAIL],
    ),
    "one_instance_for_all_tests": (
        "class Solution:\n    calls = 0\n    def twoSum(self, nums, target):\n        self.calls += 1\n        return [0, 1] if self.calls == 1 else [1, 2]\n",
        [PASS, PASS],
    ),
    "header_names_available": ("class Solution:\n    def twoSum(self, nums, target):\n        return list(accumulate([0, 1]))\n", [PASS, FAIL]),
    "main_block_does_not_run": ("if __name__ == '__main__':\n    raise SystemExit\ndef twoSum(nums, target):\n    return [0, 1]\n", [PASS, FAIL]),
}


def test_functional_programs_get_lcbs_verdicts(sandbox: Sandbox) -> None:
    names = list(TWO_SUM_PROGRAMS)
    jobs = [Job(TWO_SUM_PROGRAMS[n][0], TWO_SUM, "twoSum", time_limits=[1.0, 1.0], load_time_limit=5.0) for n in names]
    results = dict(sandbox.run(jobs))
    got = {n: lcb_view([o.status for o in results[i].outcomes]) for i, n in enumerate(names)}
    assert got == {n: TWO_SUM_PROGRAMS[n][1] for n in names}


# ---------------------------------------------------------------- hostile programs on stdin

STDIN_TEST = [TestCase("stdio", inputs="1\n", expected="2\n", has_expected=True)]
STDIN_HOSTILE = {
    **{name: program + "\nprint(f(int(input())))\n" for name, program in HOSTILE.items()},
    "print_then_os_exit": "import os\nprint(2)\nos._exit(0)\n",
    "write_fd_1_directly": "import os\nos.write(1, b'2\\n')\n",
    "forge_own_record": textwrap.dedent("""
        import os, sys
        frame = sys._getframe()
        while frame is not None and 'nonce' not in frame.f_locals:
            frame = frame.f_back
        if frame is not None:
            fd, nonce = frame.f_locals['record_fd'], frame.f_locals['nonce']
            os.write(fd, ('{"event": "test", "i": 0, "s": "pass", "o": "3", "n": "%s"}\\n' % nonce).encode())
            os._exit(0)
    """),
}


@pytest.mark.parametrize("isolation", LEVELS)
def test_hostile_programs_on_stdin_are_contained(isolation: str) -> None:
    """The hostile suite's programs, reading x on stdin and printing f(x): none passes, every job
    ends within its budget, nothing survives, and the pool still judges an honest program."""
    names = list(STDIN_HOSTILE)
    with Sandbox(_config(isolation)) as box:
        baseline = sorted(_marker_processes(box._dir))
        jobs = [Job(STDIN_HOSTILE[n], STDIN_TEST, None, time_limits=[0.5], load_time_limit=1.0) for n in names]
        results = dict(box.run(jobs))
        for i, name in enumerate(names):
            statuses = [o.status for o in results[i].outcomes]
            assert PASS not in statuses, f"{name}: false pass"
            assert "infra_error" not in statuses or name.split("\n")[0] in ("kill_parent", "kill_everything"), (name, statuses)
        time.sleep(0.2)
        assert sorted(_marker_processes(box._dir)) == baseline
        honest = dict(box.run([Job("def f(x):\n    return x + 1\nprint(f(int(input())))\n", STDIN_TEST, None)]))
        assert [o.status for o in honest[0].outcomes] == [PASS]
