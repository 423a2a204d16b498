"""``plum demo``: the whole PLUM loop offline, on the embedded problem family and demo models."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """\
examples:
  plum demo                          # a fresh folder demo-run-N under the current one
  plum demo --out runs/demo          # run, or resume an interrupted run, in runs/demo
  plum demo --out runs/demo --compare rft
  plum demo --out runs/demo --rounds 3 --set training.beta=0.2
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run PLUM end to end on small shipped models and problems (offline, CPU, minutes)",
        description="Synthesize tests with the demo test generator, then improve the demo policy by "
        "rounds of on-policy sampling, sandboxed execution and KTO, evaluating each round on the "
        "splits seen / instructions_only / unseen. See docs/demo.md.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, help="run folder (default: a fresh demo-run-N here); an existing one resumes")
    parser.add_argument("--compare", nargs="+", default=[], choices=["rft"], help="also run a baseline with the same budget: rft (SFT on passing samples)")
    parser.add_argument("--rounds", type=int, help="override the number of rounds (default 2)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one value of the demo config (YAML syntax); repeatable",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="on a folder started with another config, redo what it affects")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (default 1: the demo models are too small to gain much from more, and "
        "on a busy machine several threads stall each other)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from plumcode.demo.run import print_comparison, run_demo
    from plumcode.errors import PlumError

    if args.threads < 1:
        raise PlumError(f"--threads must be at least 1, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    console = Console(stderr=True)
    out = args.out or _fresh_folder(Path.cwd())
    console.print(f"[bold]plum demo[/] in {out} (resume with: plum demo --out {out})")
    overrides = [*args.overrides, *([f"rounds={args.rounds}"] if args.rounds is not None else [])]
    comparison = run_demo(out, compare=args.compare, overrides=overrides, force=args.force)
    print_comparison(comparison, console)
    console.print(
        f"wall time {comparison['wall_seconds']:.0f} s; report: {out / 'report.html'}, "
        f"comparison: {out / 'plots' / 'comparison.png'}"
    )
    return 0


def _fresh_folder(parent: Path) -> Path:
    number = 1
    while (parent / f"demo-run-{number}").exists():
        number += 1
    return parent / f"demo-run-{number}"
