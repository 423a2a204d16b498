"""Turn a generator's response into a draft: the functions it defines, its imports, its tests.

Responses rarely follow the requested format exactly: blocks may lack a language tag or the
closing fence (truncated output), tests may sit inside the solution block, under
``if __name__ == "__main__":`` or in pytest-style ``test_*`` functions, and prose may surround
everything. Finding the code is ``plum_exec.extraction.code_chunks``'s job (it keeps the parts
that parse, so a cut-off last assertion is simply gone); this module sorts the statements. The
reference program itself is cut out later by ``extraction.extract_code`` once the entry point
is known.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field

from plum_exec import pysource
from plum_exec.extraction import code_chunks

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Draft:
    """What one response offers: top-level definitions (names), import statements, test statements."""

    definitions: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)


def parse_response(response: str) -> Draft:
    """Collect definitions, imports and assert statements from all the code in a response."""
    draft = Draft()
    for chunk in code_chunks(response):
        for node in pysource.parse(chunk).body:
            tests = _tests_in(node)
            if tests is not None:
                draft.tests.extend(
                    ast.get_source_segment(chunk, t) or ast.unparse(t) for t in tests
                )
            elif isinstance(node, ast.Import | ast.ImportFrom):
                draft.imports.append(ast.get_source_segment(chunk, node) or ast.unparse(node))
            elif isinstance(node, DEFINITIONS):
                draft.definitions.append(node.name)
    return draft


def defined_names(program: str) -> list[str]:
    """Top-level functions and classes a program defines; [] if it does not parse."""
    try:
        body = pysource.parse(program).body
    except SyntaxError:
        return []
    return [node.name for node in body if isinstance(node, DEFINITIONS)]


def choose_entry_point(draft: Draft) -> str | None:
    """The defined function (or class) the tests call most; with no calls, the last one defined."""
    candidates = [name for name in draft.definitions if not name.startswith("test")]
    if not candidates:
        return None
    counts = Counter(
        name for test in draft.tests for name in called_names(test) if name in candidates
    )
    if counts:
        best = max(counts.values())
        return next(name for name in candidates if counts[name] == best)
    return candidates[-1]


def rename(code: str, old: str, new: str) -> str:
    """``code`` with the function (or class) ``old`` and every reference to it named ``new``."""
    tree = pysource.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, DEFINITIONS) and node.name == old:
            node.name = new
        elif isinstance(node, ast.Name) and node.id == old:
            node.id = new
    return ast.unparse(tree)


def called_names(test: str) -> set[str]:
    """Names called in a statement ({} if it does not parse)."""
    try:
        return calls_in(pysource.parse(test))
    except SyntaxError:
        return set()


def calls_in(tree: ast.AST) -> set[str]:
    """Names called in a tree: ``f`` for ``f(...)``, ``C`` for ``C(...).m(...)`` or ``C.m(...)``."""
    return {
        root
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (root := _root_name(node.func))
    }


def _root_name(func: ast.expr) -> str | None:
    while isinstance(func, ast.Attribute):
        func = func.value
    return func.id if isinstance(func, ast.Name) else None


def _tests_in(node: ast.stmt) -> list[ast.stmt] | None:
    """The assert statements a statement contributes, or None if it is not test code.

    Tests come as top-level asserts, inside ``if __name__ == "__main__":``, or as pytest-style
    ``def test_*():`` functions made only of asserts (their asserts stand alone).
    """
    if isinstance(node, ast.Assert):
        return [node]
    if _is_main_guard(node):
        return [s for s in node.body if isinstance(s, ast.Assert)]  # type: ignore[attr-defined]
    if isinstance(node, ast.FunctionDef) and node.name.startswith("test") and not node.args.args:
        body = [s for s in node.body if not _is_docstring(s)]
        if body and all(isinstance(s, ast.Assert) for s in body):
            return body
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )
