"""``--dry-run``: each stage's state and the run's cost, without loading a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plumcode.loop.config import RunConfig, load_eval_set
from plumcode.loop.folder import RunFolder, fingerprints, stage_state
from plumcode.loop.stages import RunStages

CHARS_PER_TOKEN = 4  # rough English/code average; the dry run loads no tokenizer


def dry_run(config: RunConfig, run_dir: str | Path, console: Any = None) -> dict[str, float]:
    """Print each stage's state and the run's cost estimate, loading no model; return the estimate."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    folder = RunFolder(run_dir)
    stages = RunStages(config, folder, console).stages()
    prints = fingerprints(stages)
    plan = Table(title=f"plan for {folder.root}")
    plan.add_column("stage")
    plan.add_column("state")
    for stage in stages:
        plan.add_row(stage.key, stage_state(stage, folder, prints[stage.key]))
    console.print(plan)
    cost = estimate_cost(config, folder)
    table = Table(
        title=f"cost estimate ({config.rounds} rounds; upper bounds, {CHARS_PER_TOKEN} chars per token)"
    )
    table.add_column("what")
    table.add_column("total", justify="right")
    for what, amount in cost.items():
        table.add_row(what, f"{amount:,.0f}")
    console.print(table)
    return cost


def estimate_cost(config: RunConfig, folder: RunFolder) -> dict[str, float]:
    """Samples, test executions, generated and training tokens over the whole run (upper bounds)."""
    instructions, tests_each, prompt_tokens = _instruction_counts(config, folder)
    rounds, n = config.rounds, config.sampling.n
    samples = instructions * n
    completion = config.sampling.max_new_tokens
    if config.training.method == "dpo":
        # Most pairs when half the samples pass; each pair holds the prompt and two completions.
        pairs = (n // 2) * (n - n // 2)
        examples = instructions * min(pairs, config.prefs.max_per_problem or pairs)
        example_tokens = prompt_tokens + 2 * completion
    else:
        examples = instructions * min(n, config.prefs.max_per_problem or n)
        example_tokens = prompt_tokens + completion
    train_tokens = (
        examples
        * min(example_tokens, config.training.max_length)
        * config.training.num_train_epochs
    )
    if config.training.max_steps > 0:
        batch = (
            config.training.per_device_train_batch_size
            * config.training.gradient_accumulation_steps
        )
        train_tokens = config.training.max_steps * batch * config.training.max_length
    eval_samples, eval_executions = _eval_counts(config)
    return {
        "test-generator requests": instructions * config.testgen.n_references
        if config.test_generator
        else 0,
        "policy samples (training instructions)": rounds * samples,
        "policy samples (evaluation)": (rounds + 1) * eval_samples,
        "generated tokens": rounds * samples * completion
        + (rounds + 1) * eval_samples * config.evaluation.sampling.max_new_tokens,
        "test executions": rounds * samples * tests_each + (rounds + 1) * eval_executions,
        "training examples": rounds * examples,
        "training tokens": rounds * train_tokens,
    }


def _instruction_counts(config: RunConfig, folder: RunFolder) -> tuple[int, float, int]:
    """(instructions, tests per instruction, prompt tokens per instruction), measured where known."""
    from plum_exec.problems import load_problems_jsonl

    if folder.tests.is_file() or config.test_generator is None:
        path = folder.tests if folder.tests.is_file() else config.instructions.problems or ""
        problems = list(load_problems_jsonl(path).values())[: config.instructions.limit]
        tests = sum(len(p.tests) for p in problems) / max(len(problems), 1)
        texts = [p.prompt for p in problems]
    else:
        from plum_data.instructions import load_instructions

        texts = [i.text for i in load_instructions(config.instructions)]
        tests = config.testgen.n_tests
    prompt_tokens = sum(len(t) for t in texts) // max(len(texts), 1) // CHARS_PER_TOKEN
    return len(texts), tests, prompt_tokens


def _eval_counts(config: RunConfig) -> tuple[int, int]:
    """Samples and test executions of one evaluation of every benchmark and split."""
    samples = executions = 0
    n = config.evaluation.sampling.n
    for name in config.evaluation.names:
        problems = load_eval_set(config.evaluation, name).values()
        samples += len(problems) * n
        executions += sum(len(p.tests) + len(p.plus_tests) for p in problems) * n
    return samples, executions
