"""click plumbing every plum package's command shares: lazy groups, one-line errors, examples.

Each package exposes one click group (``plum_exec.cli:cli``, ``plum_data.cli:cli``, ...) as its
own console script and under the entry-point group ``plum.commands``, where the umbrella ``plum``
finds it. A group names its commands as ``"module:attribute"`` and imports one only when it is
listed or called (click's "Lazily Loading Subcommands"), so ``--help`` stays fast: command
modules import torch, vLLM and TRL inside their bodies only.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import click

from plum_exec.errors import PlumError

INTERRUPTED = "interrupted; finished work is saved, rerun the same command to resume"


class PlumGroup(click.Group):
    """A click group whose commands load on first use and report ``PlumError`` in one line.

    ``lazy`` maps command names, in the order ``--help`` lists them, to ``"module:attribute"``.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(name for name in super().list_commands(ctx) if name not in self.lazy)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            return load_object(self.lazy[name])
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        prog = ctx.find_root().info_name or "plum"
        try:
            return super().invoke(ctx)
        except PlumError as exc:
            click.echo(f"{prog}: error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo(f"{prog}: {INTERRUPTED}", err=True)
            ctx.exit(130)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but keeps the listing order instead of sorting it."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def load_object(spec: str) -> Any:
    """``"package.module:name"`` -> the object."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def examples(text: str) -> str:
    """An epilog of example commands that click prints as written (no rewrapping)."""
    lines = (f"  {line}" if line else "\n\b" for line in text.strip().splitlines())
    return "\b\nExamples:\n" + "\n".join(lines)


def run_main(command: click.Command, argv: Sequence[str] | None, prog: str) -> int:
    """Run a command as its console script would, returning the exit code (for the Python API)."""
    try:
        command.main(args=list(argv) if argv is not None else None, prog_name=prog)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


def exit_with(code: int) -> None:
    """End a command with ``code`` (click's standalone mode ignores returned values)."""
    if code:
        click.get_current_context().exit(code)
