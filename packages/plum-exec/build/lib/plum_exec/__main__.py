"""``python -m plum_exec``: the ``plum-exec`` command."""

from plum_exec.cli import cli

cli(prog_name="plum-exec")
