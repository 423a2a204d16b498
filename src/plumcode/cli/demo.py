"""``plum demo``: the whole PLUM loop offline, on the embedded problem family and demo models."""

from __future__ import annotations

from pathlib import Path

import click

from plum_exec.command import examples

# The baselines of plumcode.demo.run.COMPARISONS, named here so that --help imports no demo code
# (tests/demo/test_demo_cli.py checks that the two agree).
COMPARED = ["rft", "grpo"]

EXAMPLES = """
plum demo                          # a fresh folder demo-run-N under the current one
plum demo --out runs/demo          # run, or resume an interrupted run, in runs/demo
plum demo --out runs/demo --compare rft
plum demo --out runs/demo --compare grpo   # online RL on the same tests, same programs per round
plum demo --out runs/demo --seeds 3 --compare rft   # seeds 0, 1, 2: mean and spread of each number
plum demo --out runs/demo --seed 1                 # one run with another seed
plum demo --out runs/demo --rounds 3 --set training.beta=0.2
"""


@click.command(
    short_help="run PLUM end to end on small shipped models and problems (offline, CPU, minutes)",
    epilog=examples(EXAMPLES),
)
@click.option("--out", type=click.Path(path_type=Path),
              help="run folder (default: a fresh demo-run-N here); an existing one resumes")  # fmt: skip
@click.option("--compare", multiple=True, type=click.Choice(COMPARED),
              help="also run a baseline with the same budget: rft (SFT on passing samples), grpo (online RL)")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="seed of every stage (sampling, training order); with --seeds, the first of them")  # fmt: skip
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="run K times, with seeds SEED..SEED+K-1, in OUT/seed_N/, and print each number's "
              "mean ± standard deviation over the seeds")  # fmt: skip
@click.option("--rounds", type=int, help="override the number of rounds (default 2)")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="override one value of the demo config (YAML syntax); repeatable")  # fmt: skip
@click.option("--force", is_flag=True, help="on a folder started with another config, redo what it affects")
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch CPU threads (the demo models are too small to gain much from more, and "
              "on a busy machine several threads stall each other)")  # fmt: skip
@click.option("--push-to-hub", "push_to_hub", metavar="NAMESPACE",
              help="publish every stage's dataset and every round's model to the Hub under NAMESPACE "
              "(repos plum-demo-RUN-...; docs/hub.md)")  # fmt: skip
def demo(out: Path | None, compare: tuple[str, ...], seed: int, seeds: int, rounds: int | None,
         overrides: tuple[str, ...], force: bool, threads: int, push_to_hub: str | None) -> None:  # fmt: skip
    """Synthesize tests with the demo test generator, then improve the demo policy by rounds of
    on-policy sampling, sandboxed execution and KTO, evaluating each round on the splits seen /
    instructions_only / unseen. See docs/demo.md."""
    from rich.console import Console

    from plum_exec.errors import PlumError
    from plumcode.demo.run import print_comparison, run_seeds

    if threads < 1:
        raise PlumError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
    console = Console(stderr=True)
    out = out or _fresh_folder(Path.cwd())
    console.print(f"[bold]plum demo[/] in {out} (resume with: plum demo --out {out})")
    overrides = (*overrides, *([f"rounds={rounds}"] if rounds is not None else []))
    comparison = run_seeds(out, list(range(seed, seed + seeds)), compare=list(compare),
                           overrides=list(overrides), force=force, push_to_hub=push_to_hub)  # fmt: skip
    print_comparison(comparison, console)
    console.print(
        f"wall time {comparison['wall_seconds']:.0f} s; report: {out / 'report.html'}, "
        f"comparison: {out / 'plots' / 'comparison.png'}"
    )


def _fresh_folder(parent: Path) -> Path:
    number = 1
    while (parent / f"demo-run-{number}").exists():
        number += 1
    return parent / f"demo-run-{number}"
