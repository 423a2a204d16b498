"""The ``plum`` command: every installed plum package's stages under one flat name space.

Packages register one click group each under the entry-point group ``plum.commands``
(``plum-exec``: ``evaluate-samples``; ``plum-data``: ``testgen``, ``sample``, ``evaluate``,
``prefs``, ``prompts``, ``serve``; ``plum-train``: ``train``). ``plum`` lists those groups' commands beside
its own (``run``, ``demo``, ``report``, ``info``), loading a group only through its light
``cli`` module; a package that fails to load is reported in one line and the rest still work.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import click

from plum_exec.command import PlumGroup, load_object, run_main

ENTRY_POINT_GROUP = "plum.commands"
OWN_COMMANDS = {
    "run": "plumcode.cli.run:run",
    "demo": "plumcode.cli.demo:demo",
    "report": "plumcode.cli.report:report",
    "info": "plumcode.cli.info:info",
}
# ``plum --help`` lists commands in the pipeline's order; commands of other plugins follow.
ORDER = ("testgen", "sample", "evaluate", "evaluate-samples", "prefs", "prompts", "train", "push", "serve", *OWN_COMMANDS)


class Plum(PlumGroup):
    """The umbrella group: its own commands plus those of every group in ``plum.commands``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, lazy=OWN_COMMANDS, **kwargs)
        self._groups: list[click.Group] | None = None

    def package_groups(self) -> list[click.Group]:
        if self._groups is None:
            self._groups = []
            for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    self._groups.append(load_object(entry.value))
                except Exception as exc:  # a broken plugin must not take the other commands down
                    first = (str(exc).splitlines() or [""])[0]
                    click.echo(
                        f"plum: warning: {entry.name} failed to load ({type(exc).__name__}: {first}); "
                        "its commands are unavailable",
                        err=True,
                    )
        return self._groups

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.lazy)
        for group in self.package_groups():
            names.update(group.list_commands(ctx))
        return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            return super().get_command(ctx, name)
        for group in self.package_groups():
            if name in group.list_commands(ctx):
                return group.get_command(ctx, name)
        return None


@click.group(cls=Plum)
@click.version_option(package_name="plumcode", prog_name="plumcode")
def cli() -> None:
    """plumcode: improve code LLMs with synthesized tests, on-policy samples and preference learning."""


def main(argv: Sequence[str] | None = None) -> int:
    """``plum ARGS``, returning its exit code."""
    return run_main(cli, argv, "plum")


if __name__ == "__main__":
    sys.exit(main())
