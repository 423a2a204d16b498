"""Turn a model's response into the program to execute.

Two steps:
1. ``code_chunks``: the Python code in the response. Fenced blocks (```python, bare ```, ~~~,
   CodeLlama's [PYTHON] tags, an unclosed fence when the response was cut off) or, without
   fences, the parseable runs of lines between the prose. Blocks tagged with another language
   are skipped while Python blocks exist. Each block keeps only the parts that parse.
2. ``sanitize``: with ``ast`` and ``symtable``, keep the entry point and everything it needs
   (imports, helper functions and classes, globals, transitively) and drop the rest: example
   usage, prints, ``input()``, asserts and tests, ``if __name__ == "__main__"`` blocks.

All blocks are merged before sanitizing, so the block that defines the entry point is what
survives, with helpers from other blocks; EvalPlus instead keeps the longest parseable block,
which is often the test block (7.6 points lost on gpt-3.5's MBPP+ answers).
"""

from __future__ import annotations

import ast
import re
import symtable
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from plum_exec import pysource

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "pycon", "{.python}", "sage"}
_CODELLAMA_TAGS = (re.compile(r"\[PYTHON\]"), re.compile(r"\[/PYTHON\]"))
# Statements that configure the interpreter for the code after them; kept whenever present.
_SETUP_CALLS = {("sys", "setrecursionlimit"), ("sys", "set_int_max_str_digits")}


def extract_code(response: str, entry_point: str | None = None) -> str:
    """The program in ``response``, sanitized around ``entry_point`` ("" when there is no code)."""
    program = "\n\n".join(code_chunks(response))
    return sanitize(program, entry_point) if program else ""


# ---------------------------------------------------------------- finding the code


@dataclass
class _Block:
    info: str
    text: str


def fenced_blocks(response: str) -> list[_Block]:
    """Fenced blocks in order; an unclosed last fence runs to the end (a truncated response)."""
    response = _CODELLAMA_TAGS[0].sub("```python\n", response)
    response = _CODELLAMA_TAGS[1].sub("\n```", response)
    blocks: list[_Block] = []
    opened: re.Match[str] | None = None
    body: list[str] = []
    for line in response.split("\n"):
        if opened is None:
            opened = _FENCE_OPEN.match(line)
            body = []
            continue
        fence = opened["fence"]
        stripped = line.strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            blocks.append(_close(opened, body))
            opened = None
        elif stripped.endswith(fence) and not stripped.startswith(fence):
            # Code and closing fence on one line ("    return x```").
            body.append(line.rstrip()[: -len(fence)])
            blocks.append(_close(opened, body))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        blocks.append(_close(opened, body))
    return blocks


def _close(opened: re.Match[str], body: list[str]) -> _Block:
    indent = len(opened["indent"])
    # Fences nested in a list item are indented; so is their code, by the same amount.
    lines = [line[indent:] if line[:indent].isspace() else line for line in body]
    return _Block(opened["info"].strip().lower(), textwrap.dedent("\n".join(lines)))


def code_chunks(response: str) -> list[str]:
    """The parseable Python in ``response``: from its Python blocks, else from the bare text."""
    blocks = fenced_blocks(response)
    python = [b for b in blocks if b.info.split(" ")[0] in _PYTHON_TAGS] or blocks
    texts = [b.text for b in python] if python else [response]
    return [chunk for text in texts for chunk in parseable_chunks(_strip_repl(text))]


def _strip_repl(text: str) -> str:
    """A REPL transcript (``>>> f(1)`` then output) becomes the statements typed at the prompts."""
    lines = text.split("\n")
    if not any(line.startswith(">>> ") for line in lines):
        return text
    return "\n".join(line[4:] for line in lines if line.startswith((">>> ", "... ")))


def parseable_chunks(text: str) -> list[str]:
    """Maximal runs of lines that parse, each starting at an unindented line.

    A whole text that parses is one chunk; otherwise prose between code, or a cut-off last
    statement, splits it. SyntaxError line numbers let each run shrink in a few parses.
    """
    if _parses(text):
        return [text] if text.strip() else []
    lines = text.split("\n")
    chunks, start = [], 0
    while start < len(lines):
        if not _may_start_code(lines[start]):
            start += 1
            continue
        end = _longest_parseable_end(lines, start)
        if end > start:
            chunks.append("\n".join(lines[start:end]))
            start = end
        else:
            start += 1
    return chunks


def _may_start_code(line: str) -> bool:
    if not line.strip() or line[0].isspace():
        return False
    return _parses(line) or (line.rstrip().endswith(":") and line.split()[0] in _BLOCK_KEYWORDS)


_BLOCK_KEYWORDS = {"def", "class", "async", "if", "for", "while", "try", "with", "@"}


def _longest_parseable_end(lines: list[str], start: int) -> int:
    end = len(lines)
    while end > start:
        try:
            pysource.parse("\n".join(lines[start:end]))
            return end
        except SyntaxError as exc:
            error_line = start + (exc.lineno or 1)  # 1-based line of the error, within lines
            end = min(end - 1, error_line - 1) if error_line - 1 > start else end - 1
    return start


def _parses(text: str) -> bool:
    try:
        pysource.parse(text)
    except (SyntaxError, ValueError):  # ValueError: null bytes in the text
        return False
    return True


# ---------------------------------------------------------------- sanitizing


@dataclass
class _Statement:
    node: ast.stmt
    source: str
    binds: set[str]
    mutates: set[str]
    uses: set[str]


def sanitize(program: str, entry_point: str | None = None) -> str:
    """Keep what ``entry_point`` needs, transitively, plus the program's imports.

    ``program`` must parse. If nothing binds ``entry_point`` (none given, misnamed, or a method),
    every top-level function and class is a root instead. Imports are kept even when unused, as
    EvalPlus does (tests may rely on them, e.g. ``math.isclose``), except test frameworks and
    imports of names the program defines itself (``from solution import f`` in a test block).
    """
    statements = [s for s in _statements(program) if not _is_junk(s.node)]
    defined = {name for s in statements if not _is_import(s.node) for name in s.binds}
    statements = [s for s in statements if not (_is_import(s.node) and s.binds & defined)]
    if not (entry_point and entry_point in defined):
        roots = {s.node.name for s in statements if isinstance(s.node, _DEFINITIONS)}
    else:
        roots = {entry_point}
    kept = _reachable(statements, roots)
    return _join([s for i, s in enumerate(statements) if i in kept or _is_kept_import(s)])


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_TEST_MODULES = {"unittest", "pytest", "doctest", "hypothesis"}


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


def _is_kept_import(statement: _Statement) -> bool:
    node = statement.node
    if isinstance(node, ast.Import):
        modules = {alias.name.split(".")[0] for alias in node.names}
    elif isinstance(node, ast.ImportFrom):
        modules = {(node.module or "").split(".")[0]}
    else:
        return False
    return not modules & _TEST_MODULES


def _statements(program: str) -> list[_Statement]:
    tree = pysource.parse(program)
    try:
        scopes = pysource.symtable(program).get_children()
    except SyntaxError:  # parses but cannot compile (e.g. `nonlocal` at top level): approximate
        scopes = None
    statements = []
    for node in tree.body:
        if scopes is None:
            uses = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        else:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            inner = [t for t in scopes if first <= t.get_lineno() <= (node.end_lineno or node.lineno)]
            uses = _module_level_loads(node) | {name for t in inner for name in _globals_used(t)}
        source = _source(program, node)
        statements.append(_Statement(node, source, _bound_names(node), _mutated_names(node), uses))
    return statements


def _reachable(statements: list[_Statement], roots: set[str]) -> set[int]:
    """Indices of statements that bind (or fill in place) a needed name, closing over their uses."""
    needed, queue = set(roots), list(roots)
    kept: set[int] = {i for i, s in enumerate(statements) if _is_setup_call(s.node)}
    while queue:
        name = queue.pop()
        for i, s in enumerate(statements):
            if i not in kept and (name in s.binds or name in s.mutates):
                kept.add(i)
                new = s.uses - needed
                needed |= new
                queue.extend(new)
    return kept


def _is_junk(node: ast.stmt) -> bool:
    """Never part of a solution: a main guard, or anything that reads stdin."""
    if isinstance(node, ast.If) and "__name__" in {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}:
        return True
    return any(_called_name(n) == "input" for n in _module_level_nodes(node))


def _called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _is_setup_call(node: ast.stmt) -> bool:
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and (func.value.id, func.attr) in _SETUP_CALLS
    )


def _module_level_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes evaluated at module level: decorators, defaults, bases, but not the bodies of
    functions, lambdas and classes (symtable reports what those use)."""
    yield node
    skipped = _body_nodes(node)
    for child in ast.iter_child_nodes(node):
        if not any(child is b for b in skipped):
            yield from _module_level_nodes(child)


def _body_nodes(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Lambda):
        return [node.body]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return list(node.body)
    return []


def _module_level_loads(node: ast.stmt) -> set[str]:
    return {n.id for n in _module_level_nodes(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _globals_used(table: symtable.SymbolTable) -> set[str]:
    names = {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    for child in table.get_children():
        names |= _globals_used(child)
    return names


def _bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the module namespace."""
    names: set[str] = set()
    for n in _module_level_nodes(node):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(n.name)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, ast.alias):
            names.add(n.asname or n.name.split(".")[0])
    return names


def _mutated_names(node: ast.stmt) -> set[str]:
    """Globals changed in place at module level (``memo[0] = 1``, ``cache.update(...)``)."""
    names = set()
    for n in _module_level_nodes(node):
        if isinstance(n, ast.Subscript | ast.Attribute) and isinstance(n.ctx, ast.Store):
            base = n.value
            while isinstance(base, ast.Subscript | ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            names.add(func.value.id)
    return names


def _source(program: str, node: ast.stmt) -> str:
    """The statement's text as written, with its decorators and a trailing comment on its last line."""
    decorators = "".join(f"@{ast.get_source_segment(program, d)}\n" for d in getattr(node, "decorator_list", []))
    text = ast.get_source_segment(program, node) or ast.unparse(node)
    last_line = program.split("\n")[(node.end_lineno or node.lineno) - 1].encode()
    rest = last_line[node.end_col_offset or len(last_line) :].decode(errors="replace")
    comment = rest if rest.strip().startswith("#") else ""
    return decorators + text + comment.rstrip()


def _join(statements: list[_Statement]) -> str:
    """Statements one per line, with a blank line around definitions (as the model wrote them)."""
    out = ""
    for prev, cur in zip([None, *statements], statements, strict=False):
        if prev is not None:
            compound = not isinstance(prev.node, _SIMPLE) or not isinstance(cur.node, _SIMPLE)
            out += "\n\n" if compound else "\n"
        out += cur.source
    return out + "\n" if out else ""


_SIMPLE = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)


# ---------------------------------------------------------------- LiveCodeBench's rule and scripts


def extract_livecodebench(response: str, *, base_model: bool = False) -> str:
    """LiveCodeBench's ``extract_code``: a base model's whole answer, stripped; for a chat model
    the lines between the last two lines containing a code fence, or "" with fewer than two."""
    if base_model:
        return response.strip()
    lines = response.split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) < 2:
        return ""
    return "\n".join(lines[fences[-2] + 1 : fences[-1]])


def extract_script(response: str) -> str:
    """A whole program that reads stdin: its code blocks as they are, without sanitizing (which
    would drop ``input()``, prints and the main guard that such a program consists of)."""
    return "\n\n".join(code_chunks(response))


def program_from_response(response: str, problem: Any, *, base_model: bool = False) -> str:
    """The program to run for ``problem`` (a ``records.Problem``): LiveCodeBench's rule for its
    problems, a whole script for stdin/stdout problems, else ``extract_code``."""
    if problem.metadata.get("benchmark") == "livecodebench":
        return extract_livecodebench(response, base_model=base_model)
    if any(test.kind == "stdio" for test in problem.tests):
        return extract_script(response)
    return extract_code(response, problem.entry_point)
