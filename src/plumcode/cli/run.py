"""``plum run``: the whole PLUM loop from one YAML config, resumable (see docs/loop.md)."""

from __future__ import annotations

from pathlib import Path

import click

from plum_exec.command import examples

EXAMPLES = """
plum run examples/cpu_tiny.yaml --dry-run          # the plan and its cost, nothing loaded
plum run examples/qwen7b_vllm.yaml --run-dir runs/qwen7b
plum run runs/qwen7b                                # resume (or extend) with the folder's own config
plum run runs/qwen7b --rounds 3                     # one more round on a finished 2-round run
plum run examples/cpu_tiny.yaml --set training.learning_rate=1e-5 --set sampling.n=4
"""


@click.command(
    short_help="run the PLUM loop (tests, rounds of sample/execute/prefs/train, evaluation, report)",
    epilog=examples(EXAMPLES),
)
@click.argument("config")
@click.option("--run-dir", help="run folder (default: runs/<config name>, or CONFIG itself if a folder)")
@click.option("--rounds", type=int, help="override the config's number of rounds")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="override one config value (YAML syntax), e.g. --set training.beta=0.2; repeatable")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="print the plan and a cost estimate, load nothing")
@click.option("--force", is_flag=True, help="on a folder started with another config, redo the stages it affects")
@click.option("--no-report", "no_report", is_flag=True, help="skip report.html at the end")
def run(config: str, run_dir: str | None, rounds: int | None, overrides: tuple[str, ...],
        dry_run: bool, force: bool, no_report: bool) -> None:  # fmt: skip
    """Synthesize tests once, then for each round sample programs from the current policy, execute
    them, build preference data, train, and evaluate. Interrupted runs resume where they
    stopped."""
    from plumcode.loop import dry_run as plan
    from plumcode.loop import load_run_config
    from plumcode.loop import run as run_loop

    config_path, folder = _paths(config, run_dir)
    settings = load_run_config(config_path, [*overrides, *([f"rounds={rounds}"] if rounds is not None else [])])
    if dry_run:
        plan(settings, folder)
        return
    run_loop(settings, folder, force=force)
    if not no_report:
        from plumcode.report import write_report

        write_report(folder)


def _paths(config: str, run_dir: str | None) -> tuple[Path, Path]:
    """A folder argument means "resume this run with its own config.yaml"."""
    path = Path(config)
    if path.is_dir():
        return path / "config.yaml", Path(run_dir) if run_dir else path
    return path, Path(run_dir) if run_dir else Path("runs") / path.stem
