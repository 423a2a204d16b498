"""The ``plum`` command: one subcommand per pipeline stage, plus ``run``, ``demo`` and ``report``.

Each subcommand lives in its own module under ``plumcode.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function taking the
parsed namespace and returning an exit code). Command modules import heavy libraries (torch,
transformers) inside their handlers, so ``plum --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from plumcode.errors import PlumError

# Order here is the order in ``plum --help``: the pipeline's order.
COMMAND_MODULES = [
    # stage modules are added here as they land
    "testgen",
    "sample",
    "evaluate",
    "evaluate_samples",
    "prefs",
    "train",
    "serve",
    "run",
    "demo",
    "report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plum",
        description="plumcode: improve code LLMs with synthesized tests, on-policy samples and preference learning.",
    )
    from plumcode import __version__

    parser.add_argument("--version", action="version", version=f"plumcode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"plumcode.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except PlumError as exc:
        print(f"plum: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("plum: interrupted; finished work is saved, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
