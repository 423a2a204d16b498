"""``plum prefs``: executed samples -> KTO / DPO preference data in TRL's columns (PLUM stage 3a)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plum_data.preferences import PrefsConfig
from plum_exec import config as cfg
from plum_exec.command import examples
from plum_exec.publish import hub_options

DATASET = "JSONL, dataset folder, or Hub dataset ORG/NAME[@REVISION][:CONFIG[:SPLIT]]"

EXAMPLES = """
plum prefs --problems tests.jsonl --samples samples.jsonl --results results.jsonl \\
    --model Qwen/Qwen2.5-Coder-1.5B-Instruct --out prefs/
plum prefs ... --format standard --pass-threshold 0.8 --max-per-problem 8 --balance downsample
plum prefs --problems my-org/tests --samples my-org/samples --results my-org/results --model ./policy \\
    --out prefs/ --push-to-hub my-org/prefs   # load_dataset("my-org/prefs", "kto", split="train")
"""


@click.command(short_help="turn executed samples into KTO/DPO preference data", epilog=examples(EXAMPLES))
@click.option("--problems", required=True, help=f"problems with the prompts (testgen's output): {DATASET}")
@click.option("--samples", required=True, help=f"samples (task_id, sample_id, response, solution): {DATASET}")
@click.option("--results", required=True, help=f"execution results (one SampleResult per sample): {DATASET}")
@click.option("--out", required=True,
              help="output folder: kto.jsonl, dpo.jsonl, stats.json and the dataset (configs kto, dpo)")  # fmt: skip
@click.option("--config", "config_path", help="YAML with PrefsConfig fields (or a run config's 'prefs' section)")
@cfg.options(PrefsConfig)
@hub_options
def prefs(**params: Any) -> None:
    """Label each sample by its synthesized tests (all pass = desirable) and write kto.jsonl,
    dpo.jsonl and stats.json in TRL's dataset formats, and one dataset with configs kto and dpo
    (pushed with --push-to-hub)."""
    from plum_data.preferences import build_preferences, preferences_card
    from plum_exec import publish

    target = publish.push_target(params)
    config = cfg.from_file_and_params(PrefsConfig, params["config_path"], "prefs", params)
    publish.start_stage(params["out"])
    stats = build_preferences(params["problems"], params["samples"], params["results"], params["out"], config)
    print_stats(stats)
    record = publish.provenance(
        "prefs",
        inputs={name: params[name] for name in ("problems", "samples", "results")},
        models={"policy (chat template)": config.model},
        prefs=config,
    )
    publish.finish_stage(Path(params["out"]), preferences_card(params["out"], stats, record), target)


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
