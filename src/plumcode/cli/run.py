"""``plum run``: the whole PLUM loop from one YAML config, resumable (see docs/loop.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """\
examples:
  plum run examples/cpu_tiny.yaml --dry-run          # the plan and its cost, nothing loaded
  plum run examples/qwen7b_vllm.yaml --run-dir runs/qwen7b
  plum run runs/qwen7b                                # resume (or extend) with the folder's own config
  plum run runs/qwen7b --rounds 3                     # one more round on a finished 2-round run
  plum run examples/cpu_tiny.yaml --set training.learning_rate=1e-5 --set sampling.n=4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the PLUM loop (tests, rounds of sample/execute/prefs/train, evaluation, report)",
        description="Synthesize tests once, then for each round sample programs from the current policy, "
        "execute them, build preference data, train, and evaluate. Interrupted runs resume where they stopped.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="run config YAML, or an existing run folder to resume")
    parser.add_argument(
        "--run-dir", help="run folder (default: runs/<config name>, or CONFIG itself if a folder)"
    )
    parser.add_argument("--rounds", type=int, help="override the config's number of rounds")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one config value (YAML syntax), e.g. --set training.beta=0.2; repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and a cost estimate, load nothing"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="on a folder started with another config, redo the stages it affects",
    )
    parser.add_argument(
        "--no-report", dest="report", action="store_false", help="skip report.html at the end"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from plumcode.loop import dry_run, load_run_config
    from plumcode.loop import run as run_loop

    config_path, run_dir = _paths(args.config, args.run_dir)
    overrides = [*args.overrides, *([f"rounds={args.rounds}"] if args.rounds is not None else [])]
    config = load_run_config(config_path, overrides)
    if args.dry_run:
        dry_run(config, run_dir)
    else:
        run_loop(config, run_dir, force=args.force, report=args.report)
    return 0


def _paths(config: str, run_dir: str | None) -> tuple[Path, Path]:
    """A folder argument means "resume this run with its own config.yaml"."""
    path = Path(config)
    if path.is_dir():
        return path / "config.yaml", Path(run_dir) if run_dir else path
    return path, Path(run_dir) if run_dir else Path("runs") / path.stem
