"""The two prompts of test synthesis: the generator's (PLUM's) and the one shown to the policy.

PLUM (arXiv 2406.06887, section 3.1) asks a strong model to analyse the problem, write a
reference solution, and then write tests as assertions that call the solution; only tests the
reference passes are kept. The generator's prompt follows that order, and asks for fenced blocks
under fixed headings so the response can be parsed (``parsing.py`` also copes when it is not).
"""

from __future__ import annotations

import ast
import copy
import string
from dataclasses import dataclass
from pathlib import Path

from plum_data.instructions import Instruction
from plum_data.testgen.parsing import DEFINITIONS
from plum_exec import pysource
from plum_exec.errors import PlumError

GENERATOR_PROMPT = """\
Below is a programming problem. Solve it in three steps.

1. Analysis: state what the function must compute, its inputs and outputs, and the edge cases.
2. Solution: write a correct, self-contained reference solution in Python.
3. Tests: write {n_tests} different test cases. Each test is one `assert` statement that calls \
the function on concrete inputs and compares the result with the exact expected value, for \
example `assert add(2, 3) == 5`. Cover typical inputs and edge cases. Do not print, do not use \
a test framework, do not use randomness.

{entry_point_hint}

### Problem
{instruction}

Answer in exactly this format:

### Analysis
<your analysis>

### Solution
```python
<the reference solution>
```

### Tests
```python
assert ...
```
"""

# MBPP shows the policy the function it must write; a bare instruction gets its signature.
POLICY_PROMPT = """\
{instruction}
Write it as a Python function with this signature:
```python
{signature}
```
"""

GENERATOR_FIELDS = frozenset({"instruction", "entry_point_hint", "n_tests"})
POLICY_FIELDS = frozenset({"instruction", "signature", "entry_point", "example_test"})


@dataclass(frozen=True)
class Templates:
    generator: str = GENERATOR_PROMPT
    policy: str = POLICY_PROMPT


def load_templates(generator_path: str | None = None, policy_path: str | None = None) -> Templates:
    """Read custom templates from files, checking their placeholders once, before any generation."""
    generator = (
        _read_template(generator_path, GENERATOR_FIELDS) if generator_path else GENERATOR_PROMPT
    )
    policy = _read_template(policy_path, POLICY_FIELDS) if policy_path else POLICY_PROMPT
    return Templates(generator=generator, policy=policy)


def generator_messages(
    template: str, instruction: Instruction, n_tests: int
) -> list[dict[str, str]]:
    """The generator's request as one chat turn."""
    if instruction.entry_point:
        hint = f"The function must be named `{instruction.entry_point}`, exactly as in the problem."
    else:
        hint = "Give the function a descriptive name and call it by that name in every test."
    content = template.format(instruction=instruction.text, entry_point_hint=hint, n_tests=n_tests)
    return [{"role": "user", "content": content}]


def policy_prompt(
    template: str,
    instruction: Instruction,
    reference: str,
    entry_point: str,
    *,
    helpers: str,
    example_test: str,
) -> str:
    """What the policy sees: the source's own prompt if it names the function, else the template
    filled with the entry point's signature, after any helper definitions the tests use."""
    if instruction.prompt is not None:
        return instruction.prompt
    stub = signature_stub(reference, entry_point)
    return template.format(
        instruction=instruction.text,
        signature=f"{helpers}\n\n{stub}" if helpers else stub,
        entry_point=entry_point,
        example_test=example_test,
    )


def signature_stub(program: str, entry_point: str) -> str:
    """The entry point's header with ``...`` for a body (for a class: its methods' headers)."""
    node = next(
        (
            n
            for n in pysource.parse(program).body
            if isinstance(n, DEFINITIONS) and n.name == entry_point
        ),
        None,
    )
    if node is None:
        raise ValueError(f"program defines no top-level '{entry_point}'")
    stub = copy.deepcopy(node)
    if isinstance(stub, ast.ClassDef):
        methods = [m for m in stub.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)]
        stub.body = [_function_stub(m) for m in methods if _is_public(m.name)] or [_ellipsis()]
    else:
        stub = _function_stub(stub)
    return ast.unparse(ast.fix_missing_locations(stub))


def _function_stub(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
) -> ast.FunctionDef | ast.AsyncFunctionDef:
    node.body = [_ellipsis()]
    return node


def _ellipsis() -> ast.Expr:
    return ast.Expr(ast.Constant(...))


def _is_public(name: str) -> bool:
    return name == "__init__" or not name.startswith("_")


def _read_template(path: str, allowed: frozenset[str]) -> str:
    file = Path(path)
    if not file.is_file():
        raise PlumError(f"{file}: no such template file")
    text = file.read_text(encoding="utf-8")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise PlumError(
            f"{file}: bad template ({exc}; write literal braces as {{{{ and }}}})"
        ) from None
    unknown = sorted(fields - allowed)
    if unknown:
        raise PlumError(
            f"{file}: unknown placeholder(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    return text
