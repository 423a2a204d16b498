"""``synthesize_tests``: instructions -> generator responses -> validated problems JSONL.

Files, for ``--out problems.jsonl``:
- ``problems.log.jsonl``: one row per finished instruction (kept or dropped, with a reason for
  each dropped test), appended as work finishes; a rerun skips the task ids it holds.
- ``problems.jsonl``: the kept problems in the custom problems format, rewritten atomically
  from the log at the end of every run.
- ``problems.stats.json``: problems in / kept, tests per problem, rejection reasons.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from plum_data.generation import Generator, SamplingParams
from plum_data.instructions import Instruction
from plum_data.testgen.config import TestGenConfig
from plum_data.testgen.parsing import (
    Draft,
    choose_entry_point,
    defined_names,
    parse_response,
    rename,
)
from plum_data.testgen.prompts import Templates, generator_messages, load_templates, policy_prompt
from plum_data.testgen.recompute import Recomputed, recompute_expected
from plum_data.testgen.validation import (
    Candidate,
    Rejection,
    Validation,
    helper_definitions,
    needed_imports,
    validate,
)
from plum_exec.cards import StageCard
from plum_exec.datasets_io import ConfigData
from plum_exec.extraction import extract_code
from plum_exec.jsonl import JsonlAppender, read_jsonl, write_json, write_jsonl
from plum_exec.sandbox import Sandbox, SandboxConfig


def output_paths(out_path: str | Path) -> tuple[Path, Path, Path]:
    """``(problems, log, stats)`` paths for an output file."""
    out = Path(out_path)
    return out, out.with_suffix(".log.jsonl"), out.with_suffix(".stats.json")


def synthesize_tests(
    instructions: Sequence[Instruction],
    generator: Generator,
    out_path: str | Path,
    config: TestGenConfig | None = None,
    sandbox_config: SandboxConfig | None = None,
    console: Console | None = None,
    ray: str | None = None,
    ray_workers: int | None = None,
) -> dict[str, Any]:
    """Generate, validate and write tests for every instruction not already in the log; return stats.

    ``ray``: run the validation jobs on the Ray cluster at this address, ``ray_workers`` sandbox
    workers per node (None: each node's CPUs); docs/scaling.md.
    """
    config = config or TestGenConfig()
    console = console or Console(stderr=True)
    templates = load_templates(config.prompt_template, config.policy_prompt_template)
    out, log_path, stats_path = output_paths(out_path)
    finished = _read_log(log_path)
    todo = [i for i in instructions if i.task_id not in finished]
    infra_errors = 0
    if todo:
        with (
            _sandbox(sandbox_config or SandboxConfig(), ray, ray_workers) as sandbox,
            JsonlAppender(log_path) as log,
            _progress(console) as progress,
        ):
            task = progress.add_task("testgen", total=len(todo))
            for batch in _batches(todo, config.chunk_size):
                for row in _process_batch(batch, generator, sandbox, config, templates):
                    if row is None:
                        infra_errors += 1  # not logged: a rerun retries it
                    else:
                        log.write(row)
                        finished[row["task_id"]] = row
                    progress.advance(task)
    rows = [finished[i.task_id] for i in instructions if i.task_id in finished]
    write_jsonl(out, (row["problem"] for row in rows if row["problem"] is not None))
    stats = summarize(rows, len(instructions), infra_errors)
    write_json(stats_path, stats)
    print_stats(stats, console)
    return stats


def _sandbox(config: SandboxConfig, ray: str | None, workers: int | None) -> Any:
    """This machine's sandbox pool, or one per node of a Ray cluster (the same ``run``)."""
    if ray is None:
        return Sandbox(config)
    from plum_exec.cluster import RayCluster

    return RayCluster(ray, config, workers)


def build_candidate(
    instruction: Instruction, responses: Sequence[str]
) -> tuple[Candidate | None, str | None]:
    """References and pooled tests from a problem's responses, or ``(None, reason)``.

    The entry point is the instruction's own, or the one most responses settle on; a response
    whose extracted program does not define it gives no reference (its tests still count),
    unless the instruction fixed the name and the response solved it under another one
    (``_reference_and_tests``).
    """
    drafts = [parse_response(r) for r in responses]
    entry_point = instruction.entry_point or _majority_entry_point(drafts)
    if entry_point is None:
        return None, "no_solution"
    references: list[str] = []
    tests: list[str] = []
    for response, draft in zip(responses, drafts, strict=True):
        reference, own_tests = _reference_and_tests(
            response, draft, entry_point, may_rename=instruction.entry_point is not None
        )
        references += [reference] if reference is not None else []
        tests += own_tests
    if not references:
        return None, "no_solution"
    own_names = {entry_point}.union(*(d.definitions for d in drafts))
    setup = _join(
        instruction.setup,
        *needed_imports([i for d in drafts for i in d.imports], tests, own_names),
        helper_definitions(references[0], tests, entry_point),
    )
    return Candidate(entry_point=entry_point, references=references, tests=tests, setup=setup), None


def _reference_and_tests(
    response: str, draft: Draft, entry_point: str, *, may_rename: bool
) -> tuple[str | None, list[str]]:
    """A response's reference program (None if it has none) and its tests.

    When the instruction fixes the name and the response solved it under another one (small
    generators do, copying names from their training data), the function and the calls to it
    are renamed: the name is the instruction's to choose, the solution is still the response's.
    """
    if entry_point in draft.definitions:
        program = extract_code(response, entry_point)
        return (program if entry_point in defined_names(program) else None), draft.tests
    own = choose_entry_point(draft) if may_rename else None
    if own is None:
        return None, draft.tests
    program = extract_code(response, own)
    if own not in defined_names(program):
        return None, draft.tests
    return rename(program, own, entry_point), [rename(t, own, entry_point) for t in draft.tests]


def finish_problem(
    instruction: Instruction,
    candidate: Candidate,
    validation: Validation,
    config: TestGenConfig,
    templates: Templates,
    references: int,
) -> dict[str, Any]:
    """The log row for a validated candidate: kept with its problem, or dropped with a reason
    (too few tests; too few references agreeing). ``references``: how many responses gave a
    reference (the validated candidate may hold only the agreeing ones)."""
    reason = None
    if validation.reference is None or len(validation.tests) < max(config.min_tests, 1):
        reason = "too_few_tests"
    elif validation.group_size < config.min_agreement:
        reason = "no_agreement"
    problem = None
    if reason is None:
        reference = candidate.references[validation.reference]  # type: ignore[index]
        problem = {
            "task_id": instruction.task_id,
            "prompt": policy_prompt(
                templates.policy,
                instruction,
                reference,
                candidate.entry_point,
                helpers=helper_definitions(reference, validation.tests, candidate.entry_point),
                example_test=validation.tests[0],
            ),
            "entry_point": candidate.entry_point,
            "tests": validation.tests,
            "canonical_solution": reference,
            "setup": candidate.setup,
        }
    return _log_row(
        instruction,
        problem,
        reason,
        validation.rejections,
        references=references,
        agreeing=validation.group_size,
    )


def summarize(
    rows: Sequence[dict[str, Any]], problems_in: int, infra_errors: int = 0
) -> dict[str, Any]:
    """Stats over finished log rows: problems kept and dropped (by reason), tests per problem,
    test rejections by reason."""
    kept = [row["problem"] for row in rows if row["problem"] is not None]
    per_problem = [len(p["tests"]) for p in kept]
    return {
        "problems_in": problems_in,
        "problems_finished": len(rows),
        "problems_kept": len(kept),
        "problems_dropped": dict(Counter(row["reason"] for row in rows if row["problem"] is None)),
        "problems_infra_error": infra_errors,
        "tests_kept": sum(per_problem),
        "tests_per_problem": {
            "mean": round(statistics.fmean(per_problem), 2) if per_problem else 0.0,
            "median": statistics.median(per_problem) if per_problem else 0,
            "min": min(per_problem, default=0),
            "max": max(per_problem, default=0),
        },
        "tests_rejected": dict(Counter(r["reason"] for row in rows for r in row["rejected_tests"])),
    }


def print_stats(stats: dict[str, Any], console: Console) -> None:
    table = Table(title="plum testgen", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("problems in", str(stats["problems_in"]))
    table.add_row("problems kept", str(stats["problems_kept"]))
    for reason, count in sorted(stats["problems_dropped"].items()):
        table.add_row(f"  dropped: {reason}", str(count))
    if stats["problems_infra_error"]:
        table.add_row("  sandbox failure (rerun to retry)", str(stats["problems_infra_error"]))
    per = stats["tests_per_problem"]
    table.add_row("tests kept", str(stats["tests_kept"]))
    table.add_row(
        "tests per kept problem",
        f"mean {per['mean']}, median {per['median']}, {per['min']}-{per['max']}",
    )
    for reason, count in sorted(stats["tests_rejected"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    console.print(table)


def _process_batch(
    batch: Sequence[Instruction],
    generator: Generator,
    sandbox: Sandbox,
    config: TestGenConfig,
    templates: Templates,
) -> list[dict[str, Any] | None]:
    """Log rows for one batch, in order; None where the sandbox failed."""
    params = SamplingParams(
        n=config.n_references,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
    )
    prompts = [_prompt(generator, templates.generator, i, config.n_tests) for i in batch]
    completions = generator.generate(prompts, params)
    built = [
        build_candidate(i, [c.text for c in comps])
        for i, comps in zip(batch, completions, strict=True)
    ]
    limits = {"time_limit": config.time_limit, "load_time_limit": config.load_time_limit}
    candidates = [c for c, _ in built if c is not None]
    steps = (
        recompute_expected(sandbox, candidates, **limits)
        if config.expected_values == "reference"
        else [Recomputed(c) for c in candidates]
    )
    usable = [s.candidate for s in steps if s.candidate is not None]
    validations = iter(validate(sandbox, usable, **limits))
    pending = iter(steps)
    rows: list[dict[str, Any] | None] = []
    for instruction, (candidate, reason) in zip(batch, built, strict=True):
        if candidate is None:
            rows.append(_log_row(instruction, None, reason, []))
            continue
        step = next(pending)
        if step.infra_error:  # the sandbox failed while recomputing
            rows.append(None)
            continue
        validation = next(validations)
        validation.rejections[:0] = step.rejections
        rows.append(
            None
            if validation.infra_error
            else finish_problem(
                instruction,
                step.candidate,
                validation,
                config,
                templates,
                references=len(candidate.references),
            )
        )
    return rows


def _prompt(generator: Generator, template: str, instruction: Instruction, n_tests: int) -> Any:
    messages = generator_messages(template, instruction, n_tests)
    # A base model has no chat template: it gets the request as plain text.
    return messages if generator.chat else messages[0]["content"]


def _log_row(
    instruction: Instruction,
    problem: dict[str, Any] | None,
    reason: str | None,
    rejections: Sequence[Rejection],
    **counts: int,
) -> dict[str, Any]:
    return {
        "task_id": instruction.task_id,
        "reason": reason,
        "problem": problem,
        "rejected_tests": [{"test": r.test, "reason": r.reason} for r in rejections],
        **counts,
    }


def _read_log(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return {row["task_id"]: row for row in read_jsonl(path, tolerate_torn_tail=True)}


def _majority_entry_point(drafts: Sequence[Draft]) -> str | None:
    votes = Counter(name for d in drafts if (name := choose_entry_point(d)) is not None)
    return votes.most_common(1)[0][0] if votes else None  # ties: the first response's choice


def _join(*parts: str) -> str:
    return "\n".join(p.strip() for p in parts if p.strip())


def _batches(items: Sequence[Instruction], size: int) -> Iterator[Sequence[Instruction]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


PROBLEM_COLUMNS = {
    "task_id": "problem id",
    "prompt": "the problem statement (what the policy is prompted with)",
    "tests": "the validated assertions: every reference solution passes each one",
    "entry_point": "the function the tests call",
    "canonical_solution": "a reference solution that passes every test",
}
LOG_COLUMNS = {
    "task_id": "instruction id",
    "reason": "why the problem was dropped (null: kept)",
    "problem": "the kept problem (null when dropped)",
    "rejected_tests": "each generated test that was dropped, with the reason (`test`, `reason`)",
}


def testgen_card(out_path: str | Path, stats: dict[str, Any], provenance: dict[str, Any]) -> StageCard:
    """The card of ``plum testgen``'s dataset: config ``problems`` (kept, with validated tests) and
    config ``log`` (every instruction, kept or dropped, with the reasons)."""
    out, log_path, _ = output_paths(out_path)
    finished = _read_log(log_path)
    return StageCard(
        stage="testgen",
        title="Problems with synthesized, validated tests (plum testgen)",
        summary="Natural-language problems with unit tests written by a generator model and kept only "
        "where the generator's own reference solutions pass them (PLUM's test synthesis). Config "
        "`problems` is the custom problems format `plum sample` and `plum evaluate-samples` read; "
        "config `log` records every instruction, and why problems and tests were dropped.",
        configs=[ConfigData("problems", list(read_jsonl(out)), PROBLEM_COLUMNS),
                 ConfigData("log", list(finished.values()), LOG_COLUMNS)],  # fmt: skip
        stats=stats,
        provenance=provenance,
        tags=["synthetic", "unit-tests"],
    )
