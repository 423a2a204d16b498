"""Sample programs for problems: prompts -> generator -> extracted programs, as a samples JSONL.

Each row is a ``Sample`` (``task_id``, ``sample_id``, ``response``, ``solution``) whose
``metadata`` holds the ``prompt`` sent, ``finish_reason``, ``prompt_tokens`` and ``completion_tokens``. Rows are
appended per chunk of problems, so an interrupted run keeps its work; rerunning skips every
``(task_id, sample_id)`` already in the file and generates only what is missing.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from plum_data.generation import Completion, Generator, SamplingParams
from plum_data.prompts import BuiltPrompt, PromptConfig, build_prompt, is_livecodebench
from plum_exec.cards import StageCard
from plum_exec.datasets_io import ConfigData
from plum_exec.errors import PlumError
from plum_exec.extraction import program_from_response
from plum_exec.jsonl import JsonlAppender, read_jsonl, require
from plum_exec.records import Problem, Sample

SAMPLES_FILE = "samples.jsonl"
SAMPLE_COLUMNS = {
    "task_id": "problem id (joins the problems dataset)",
    "sample_id": "index of the sample within its problem, 0 to n-1",
    "solution": "the program extracted from the response: what is executed",
    "response": "the model's raw response: the completion preference data trains on",
    "metadata": "`prompt` (exactly what the model saw: a string, or chat messages), `finish_reason`, "
    "`prompt_tokens`, `completion_tokens`",
}


def load_problem_set(spec: str, dataset_path: str | Path | None = None, **options: Any) -> dict[str, Problem]:
    """A benchmark name (``humaneval``, ``mbpp+``, ``livecodebench``, ...; from ``dataset_path`` if
    given; ``options`` such as LiveCodeBench's ``release_version``), or a problems dataset: JSONL
    file, dataset folder or Hub id (``plum_exec.datasets_io``)."""
    from plum_exec.datasets_io import is_dataset_spec
    from plum_exec.problems import BENCHMARKS, load_benchmark, load_problems_jsonl

    if spec in BENCHMARKS:
        return load_benchmark(spec, dataset_path, **options)
    if any(value is not None for value in options.values()):
        raise PlumError(f"--release-version, --start-date and --end-date go with --benchmark livecodebench, not {spec}")
    if dataset_path is not None:
        raise PlumError(f"a dataset path goes with a benchmark name ({', '.join(BENCHMARKS)}), not with {spec}")
    if Path(spec).suffix in (".jsonl", ".gz") or Path(spec).exists() or is_dataset_spec(spec):
        return load_problems_jsonl(spec)
    raise PlumError(
        f"unknown benchmark {spec!r}: use one of {', '.join(BENCHMARKS)}, a problems JSONL file, "
        "a dataset folder or a Hub dataset (org/name)"
    )


def sample_problems(
    problems: Mapping[str, Problem] | Sequence[Problem],
    generator: Generator,
    params: SamplingParams,
    out_path: str | Path,
    *,
    prompt_config: PromptConfig | None = None,
    chunk_size: int = 32,
) -> list[Sample]:
    """Write ``params.n`` samples per problem to ``out_path`` (resuming); return them all.

    ``chunk_size`` problems go to the generator per call; their rows are appended together.
    """
    if chunk_size < 1:
        raise PlumError(f"chunk_size must be at least 1, got {chunk_size}")
    problem_list = list(problems.values()) if isinstance(problems, Mapping) else list(problems)
    prompt_config = prompt_config or PromptConfig()
    done = _finished(out_path)
    todo = [
        (problem, missing)
        for problem in problem_list
        if (missing := [i for i in range(params.n) if (problem.task_id, i) not in done])
    ]
    with JsonlAppender(out_path) as log, _progress() as progress:
        bar = progress.add_task("sampling", total=sum(len(m) for _, m in todo))
        for start in range(0, len(todo), chunk_size):
            for row in _sample_chunk(todo[start : start + chunk_size], generator, params, prompt_config):
                log.write(row.to_dict())
                done[(row.task_id, row.sample_id)] = row
                progress.advance(bar)
    return [done[(p.task_id, i)] for p in problem_list for i in range(params.n)]


def _finished(path: str | Path) -> dict[tuple[str, int], Sample]:
    if not Path(path).exists():
        return {}
    finished = {}
    for lineno, row in enumerate(read_jsonl(path, tolerate_torn_tail=True), start=1):
        where = f"{path}:{lineno}"
        sample = Sample(
            task_id=require(row, "task_id", where, str),
            sample_id=require(row, "sample_id", where, int),
            solution=require(row, "solution", where, str),
            response=row.get("response"),
            metadata=row.get("metadata") or {},
        )
        finished[(sample.task_id, sample.sample_id)] = sample
    return finished


def _sample_chunk(
    chunk: list[tuple[Problem, list[int]]],
    generator: Generator,
    params: SamplingParams,
    prompt_config: PromptConfig,
) -> list[Sample]:
    """One generate call per (missing count, stop strings): usually one call for the whole chunk."""
    groups: dict[tuple[int, tuple[str, ...]], list[tuple[Problem, list[int], BuiltPrompt]]] = {}
    for problem, missing in chunk:
        built = build_prompt(problem, prompt_config, generator)
        groups.setdefault((len(missing), built.stop), []).append((problem, missing, built))
    samples = []
    for (count, stop), group in groups.items():
        call_params = dataclasses.replace(params, n=count, stop=tuple(dict.fromkeys(params.stop + stop)))
        outputs = generator.generate([built.prompt for _, _, built in group], call_params)
        for (problem, missing, built), completions in zip(group, outputs, strict=True):
            samples += [_sample(problem, i, built, c) for i, c in zip(missing, completions, strict=True)]
    return samples


def _sample(problem: Problem, sample_id: int, built: BuiltPrompt, completion: Completion) -> Sample:
    response = built.prefix + completion.text
    return Sample(
        task_id=problem.task_id,
        sample_id=sample_id,
        solution=_program(problem, built, completion.text, response),
        response=response,
        metadata={
            "prompt": built.prompt,  # exactly what the model saw: preferences train on it
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        },
    )


def _program(problem: Problem, built: BuiltPrompt, completion: str, response: str) -> str:
    """The program in a model's answer, extracted as the problem's benchmark does."""
    base_model = built.style == "completion"
    if is_livecodebench(problem):  # its base-model answers are whole programs, not continuations
        return program_from_response(completion if base_model else response, problem, base_model=base_model)
    # A base model continues the prompt: the program is prompt + completion (HumanEval style).
    return program_from_response(problem.prompt + completion if base_model else response, problem)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )


def samples_card(samples: Sequence[Sample], provenance: dict[str, Any]) -> StageCard:
    """The card of ``plum sample``'s dataset: the samples with the exact prompts, and their statistics."""
    rows = [sample.to_dict() for sample in samples]
    finish = Counter(str(s.metadata.get("finish_reason")) for s in samples)
    tokens = [s.metadata.get("completion_tokens") or 0 for s in samples]
    stats = {
        "problems": len({s.task_id for s in samples}),
        "samples": len(samples),
        "finish_reasons": dict(finish),
        "mean_completion_tokens": sum(tokens) / len(tokens) if tokens else 0.0,
    }
    return StageCard(
        stage="sample",
        title="Sampled programs (plum sample)",
        summary="On-policy samples: for each problem, n responses of the policy to the prompt it was "
        "given, and the program extracted from each. Executing them (`plum evaluate-samples`) gives "
        "the verdicts that preference data (`plum prefs`) is built from.",
        configs=[ConfigData("default", rows, SAMPLE_COLUMNS)],
        stats=stats,
        provenance=provenance,
        tags=["synthetic", "on-policy"],
    )
