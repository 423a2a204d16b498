"""``python -m plum_data``: the ``plum-data`` command."""

from plum_data.cli import cli

cli(prog_name="plum-data")
