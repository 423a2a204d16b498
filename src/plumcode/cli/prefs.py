"""``plum prefs``: executed samples -> KTO / DPO preference data in TRL's columns (PLUM stage 3a)."""

from __future__ import annotations

import argparse
from typing import Any

from plumcode.config import add_arguments, build, load_yaml

EXAMPLES = """\
examples:
  plum prefs --problems tests.jsonl --samples samples.jsonl --results results.jsonl \\
      --model Qwen/Qwen2.5-Coder-1.5B-Instruct --out prefs/
  plum prefs ... --format standard --pass-threshold 0.8 --max-per-problem 8 --balance downsample
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from plumcode.preferences import PrefsConfig

    parser = subparsers.add_parser(
        "prefs",
        help="turn executed samples into KTO/DPO preference data",
        description="Label each sample by its synthesized tests (all pass = desirable) and write "
        "kto.jsonl, dpo.jsonl and stats.json in TRL's dataset formats.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--problems", required=True, help="problems JSONL with the prompts (testgen's output)"
    )
    parser.add_argument(
        "--samples", required=True, help="samples JSONL: task_id, sample_id, response, solution"
    )
    parser.add_argument(
        "--results", required=True, help="execution results JSONL (one SampleResult per sample)"
    )
    parser.add_argument(
        "--out", required=True, help="output folder for kto.jsonl, dpo.jsonl, stats.json"
    )
    parser.add_argument(
        "--config", help="YAML with PrefsConfig fields (or a run config's 'prefs' section)"
    )
    add_arguments(parser.add_argument_group("preference data"), PrefsConfig)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from plumcode.preferences import PrefsConfig, build_preferences

    config = config_from_args(PrefsConfig, args, "prefs")
    stats = build_preferences(args.problems, args.samples, args.results, args.out, config)
    print_stats(stats)
    return 0


def config_from_args(cls: type, args: argparse.Namespace, section: str) -> Any:
    """``--config`` values (flat, or the run config's ``section``) overridden by the given flags."""
    values = load_yaml(args.config) if args.config else {}
    values = dict(values.get(section, values))
    values.update(
        {
            f: getattr(args, f)
            for f in cls.__dataclass_fields__
            if getattr(args, f, None) is not None
        }
    )
    return build(
        cls, values, where=f"{args.config} + command line" if args.config else "command line"
    )


def print_stats(stats: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="preference data", show_header=False)
    table.add_row(
        "problems (mixed / all pass / none pass)",
        f"{stats['problems']} "
        f"({stats['problems_mixed']} / {stats['problems_all_pass']} / {stats['problems_none_pass']})",
    )
    table.add_row(
        "samples (not executed / infra error / duplicate)",
        f"{stats['samples']} "
        f"({stats['samples_not_executed']} / {stats['samples_infra_error']} / {stats['samples_duplicate']})",
    )
    table.add_row(
        "KTO rows (desirable / undesirable)",
        f"{stats['kto_rows']} ({stats['kto_desirable']} / {stats['kto_undesirable']}, "
        f"{stats['desirable_fraction']:.1%} desirable)",
    )
    if "kto_weights" in stats:
        weights = stats["kto_weights"]
        table.add_row(
            "KTO weights (desirable / undesirable)",
            f"{weights['desirable_weight']:.3f} / {weights['undesirable_weight']:.3f}",
        )
    table.add_row("DPO pairs (problems)", f"{stats['dpo_pairs']} ({stats['dpo_problems']})")
    table.add_row("format", stats["format"])
    Console().print(table)
