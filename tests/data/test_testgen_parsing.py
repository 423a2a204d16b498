"""Reading generator responses (parsing.py) and building the two prompts (prompts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plum_data.instructions import Instruction
from plum_data.testgen.parsing import Draft, choose_entry_point, parse_response
from plum_data.testgen.prompts import (
    GENERATOR_PROMPT,
    generator_messages,
    load_templates,
    policy_prompt,
    signature_stub,
)
from plum_exec.errors import PlumError

WELL_FORMED = """\
### Analysis
We need the sum of the even numbers; an empty list gives 0.

### Solution
```python
from typing import List

def sum_even(numbers: List[int]) -> int:
    return sum(n for n in numbers if n % 2 == 0)
```

### Tests
```python
import math
assert sum_even([1, 2, 3, 4]) == 6
assert sum_even([]) == 0
assert math.isclose(sum_even([2]), 2)
```
"""


def test_well_formed_response() -> None:
    draft = parse_response(WELL_FORMED)
    assert draft.definitions == ["sum_even"]
    assert draft.imports == ["from typing import List", "import math"]
    assert draft.tests == [
        "assert sum_even([1, 2, 3, 4]) == 6",
        "assert sum_even([]) == 0",
        "assert math.isclose(sum_even([2]), 2)",
    ]


def test_tests_inside_the_solution_block_main_guard_and_pytest_functions() -> None:
    response = """Here you go:
```
def is_odd(n):
    return n % 2 == 1

assert is_odd(3)

if __name__ == "__main__":
    print(is_odd(5))
    assert not is_odd(4)

def test_odd():
    '''pytest style'''
    assert is_odd(7)
    assert is_odd(9) is True

def test_with_fixture(tmp_path):
    assert is_odd(1)
```
That's all."""
    draft = parse_response(response)
    assert draft.tests == [
        "assert is_odd(3)",
        "assert not is_odd(4)",
        "assert is_odd(7)",
        "assert is_odd(9) is True",
    ]
    assert choose_entry_point(draft) == "is_odd"


def test_truncated_response_keeps_every_complete_statement() -> None:
    response = WELL_FORMED.split("assert math.isclose")[0] + "assert sum_even([10, 20]) == 3"[:20]
    draft = parse_response(response)
    assert draft.definitions == ["sum_even"]
    assert draft.tests == ["assert sum_even([1, 2, 3, 4]) == 6", "assert sum_even([]) == 0"]


def test_unfenced_code_between_prose() -> None:
    response = "The idea is simple.\n\ndef triple(x):\n    return 3 * x\n\nassert triple(2) == 6\nThat is all.\n"
    draft = parse_response(response)
    assert draft.definitions == ["triple"] and draft.tests == ["assert triple(2) == 6"]


def test_response_without_code_gives_an_empty_draft() -> None:
    draft = parse_response("I am sorry, I cannot help with that.")
    assert draft == Draft()
    assert choose_entry_point(draft) is None


def test_entry_point_is_the_function_the_tests_call_most() -> None:
    draft = Draft(
        definitions=["helper", "solve", "main"],
        tests=["assert solve(1) == helper(1)", "assert solve(2) == 4", "assert main() is None"],
    )
    assert choose_entry_point(draft) == "solve"
    assert choose_entry_point(Draft(definitions=["helper", "solve"], tests=[])) == "solve"
    assert (
        choose_entry_point(Draft(definitions=["Stack"], tests=["assert Stack().push(1) is None"]))
        == "Stack"
    )


def test_signature_stub_for_function_and_class() -> None:
    program = (
        "import math\n\ndef area(r: float, *, digits: int = 2) -> float:\n"
        "    '''Area.'''\n    return round(math.pi * r * r, digits)\n\n"
        "class Stack:\n    LIMIT = 3\n    def __init__(self, items=None):\n        self.items = items or []\n"
        "    def push(self, x):\n        self.items.append(x)\n    def _grow(self):\n        pass\n"
    )
    assert (
        signature_stub(program, "area") == "def area(r: float, *, digits: int=2) -> float:\n    ..."
    )
    stub = signature_stub(program, "Stack")
    assert "def __init__(self, items=None):" in stub and "def push(self, x):" in stub
    assert "_grow" not in stub and "append" not in stub
    with pytest.raises(ValueError, match="no top-level 'missing'"):
        signature_stub(program, "missing")


def test_generator_prompt_asks_for_analysis_solution_and_tests() -> None:
    named = generator_messages(
        GENERATOR_PROMPT, Instruction("t", "Double x.", entry_point="double"), 7
    )
    (message,) = named
    assert message["role"] == "user"
    content = message["content"]
    assert content.index("Analysis") < content.index("Solution") < content.index("Tests")
    assert (
        "Double x." in content
        and "`double`" in content
        and "write 7 different test cases" in content
    )
    unnamed = generator_messages(GENERATOR_PROMPT, Instruction("t", "Double x."), 3)[0]["content"]
    assert "descriptive name" in unnamed


def test_policy_prompt_gets_the_signature_unless_the_source_names_the_function() -> None:
    reference = "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n\ndef longest(pairs):\n    return len(pairs)\n"
    bare = Instruction("t", "Find the longest chain of pairs.")
    prompt = policy_prompt(
        load_templates().policy,
        bare,
        reference,
        "longest",
        helpers="class Pair: ...",
        example_test="assert longest([]) == 0",
    )
    assert prompt.startswith("Find the longest chain of pairs.")
    assert "class Pair: ...\n\ndef longest(pairs):\n    ..." in prompt
    named = Instruction(
        "t", "def f(x):\n    '''doc'''\n", entry_point="f", prompt="def f(x):\n    '''doc'''\n"
    )
    assert (
        policy_prompt(
            "{instruction}!", named, "def f(x): return x", "f", helpers="", example_test=""
        )
        == named.prompt
    )


def test_custom_templates_are_checked_before_use(tmp_path: Path) -> None:
    good = tmp_path / "policy.txt"
    good.write_text("{instruction}\nFor example: {example_test} using {entry_point}")
    templates = load_templates(policy_path=str(good))
    filled = policy_prompt(
        templates.policy,
        Instruction("t", "Add."),
        "def add(a, b): return a + b",
        "add",
        helpers="",
        example_test="assert add(1, 1) == 2",
    )
    assert filled == "Add.\nFor example: assert add(1, 1) == 2 using add"
    bad = tmp_path / "gen.txt"
    bad.write_text("{instruction} {language}")
    with pytest.raises(PlumError, match=r"gen.txt: unknown placeholder\(s\) language"):
        load_templates(generator_path=str(bad))
    braces = tmp_path / "braces.txt"
    braces.write_text("{instruction} }")
    with pytest.raises(PlumError, match="braces.txt: bad template"):
        load_templates(generator_path=str(braces))
    with pytest.raises(PlumError, match="no such template file"):
        load_templates(generator_path=str(tmp_path / "missing.txt"))
