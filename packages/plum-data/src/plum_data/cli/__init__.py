"""``plum-data``: the data stages. Each command is a module here, loaded when it is called."""

from __future__ import annotations

import click

from plum_exec.command import PlumGroup

COMMANDS = {
    "testgen": "plum_data.cli.testgen:testgen",
    "sample": "plum_data.cli.sample:sample",
    "evaluate": "plum_data.cli.evaluate:evaluate",
    "prefs": "plum_data.cli.prefs:prefs",
    "prompts": "plum_data.cli.prompts:prompts",
    "serve": "plum_data.cli.serve:serve",
}


@click.group(cls=PlumGroup, lazy=COMMANDS)
@click.version_option(package_name="plum-data", prog_name="plum-data")
def cli() -> None:
    """plum-data: synthesize tests, sample programs on-policy, build preference datasets."""
