"""Compiling model-written Python without printing the compiler's warnings about it.

Its SyntaxWarnings (``invalid decimal literal`` for ``1if x``, invalid escape sequences, which are DeprecationWarnings before 3.12) describe
the model's code, not ours, and would otherwise reach the console of every stage that reads
model output.
"""

from __future__ import annotations

import ast
import symtable as _symtable
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # invalid escapes before Python 3.12
        yield


def parse(source: str) -> ast.Module:
    """``ast.parse`` for untrusted text."""
    with quiet():
        return ast.parse(source)


def symtable(source: str) -> _symtable.SymbolTable:
    """``symtable.symtable`` for untrusted text (a module's table)."""
    with quiet():
        return _symtable.symtable(source, "<program>", "exec")
