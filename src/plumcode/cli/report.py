"""``plum report``: report.html, PNG plots and a summary table for a run folder."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write report.html and plots for a run folder and print its summary",
        description="Read a run folder (finished or in progress) and write report.html with PNG plots "
        "beside it: pass@1 per round, per-problem pass rates, test synthesis, label balance, training curves.",
    )
    parser.add_argument("run_dir", help="the run folder of plum run")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from plumcode.report import write_report

    console = Console()
    page = write_report(args.run_dir, console=console)
    console.print(f"wrote {page}")
    return 0
