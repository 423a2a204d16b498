"""``plum report``: report.html, PNG plots and a summary table for a run folder."""

from __future__ import annotations

import click


@click.command(short_help="write report.html and plots for a run folder and print its summary")
@click.argument("run_dir")
def report(run_dir: str) -> None:
    """Read a run folder (finished or in progress) and write report.html with PNG plots beside
    it: pass@1 per round, per-problem pass rates, test synthesis, label balance, training
    curves."""
    from rich.console import Console

    from plumcode.report import write_report

    console = Console()
    page = write_report(run_dir, console=console)
    console.print(f"wrote {page}")
