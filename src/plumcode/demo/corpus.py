"""Training examples for the two demo models, as (prompt, completion) text pairs.

- The policy continues a problem's prompt (signature + docstring) with the body, as a base model
  does on HumanEval; ``plum_data.prompts.completion_prompt`` shows it exactly that prompt.
- The test generator answers ``plum_data.testgen``'s request (rendered from the demo's short
  template) with an analysis, a reference solution and assert tests, in the headings and fenced
  blocks ``plum_data.testgen.parsing`` reads. Its tests use a few fixed inputs plus inputs built
  from the problem's constants, so that greedy decoding still gives varied, probing tests.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

from plum_data.instructions import Instruction
from plum_exec.records import Problem
from plumcode.demo.family import Instance, Step

TESTGEN_TEMPLATE = Path(__file__).parent / "testgen_prompt.txt"

_LIST_INPUTS = ([], [1, 2, 3, 4, 5, 6], [-5, -2, 0, 3, 8, 9], [7, 7, 10, -3, 12, 15])
_STRING_INPUTS = ("", "Hello World", "abc 123 XYZ", "Programming is FUN 42")


# Bugs that human and model code commonly has, for steps of the family: each is right on most
# inputs and wrong on some (an empty input, an odd number, a value equal to the constant, a
# space). The training script can write a share of the policy's programs with them, as code
# gathered from the web carries bugs; only running tests tells the two versions apart.
COMMON_BUGS = {
    "list.ge": "x > {k}",
    "list.le": "x < {k}",
    "list.halve": "x / 2",
    "list.max": "max(ys)",
    "list.min": "min(ys)",
    "list.first": "ys[0]",
    "list.last": "ys[-1]",
    "str.consonants": 'c not in "aeiouAEIOU"',
    "str.double": "t * 2",
    "str.sortchars": "sorted(t)",
    "str.firstchar": "t[0]",
}


def with_common_bugs(instance: Instance, rate: float, rng: random.Random) -> Instance:
    """``instance`` with each step that has a common bug written with it, with probability ``rate``
    (the policy's training target is this instance's body; at rate 0 the reference body)."""

    def maybe_bug(step: Step) -> Step:
        bug = COMMON_BUGS.get(step.kind)
        return dataclasses.replace(step, variant=bug) if bug and rng.random() < rate else step

    return dataclasses.replace(
        instance,
        conditions=tuple(maybe_bug(s) for s in instance.conditions),
        middle=maybe_bug(instance.middle) if instance.middle else None,
        final=maybe_bug(instance.final),
    )


def generator_prompt(problem: Problem, n_tests: int) -> str:
    """The generator's prompt text, as ``plum_data.testgen`` sends it to a model without a chat template."""
    from plum_data.testgen.prompts import generator_messages, load_templates

    template = load_templates(str(TESTGEN_TEMPLATE)).generator
    instruction = Instruction(task_id=problem.task_id, text=problem.prompt, entry_point=problem.entry_point, prompt=problem.prompt)
    return generator_messages(template, instruction, n_tests)[0]["content"]


def generator_example(problem: Problem, instance: Instance, func: Any, n_tests: int) -> tuple[str, str]:
    """Prompt and target answer: analysis, reference solution, ``n_tests`` asserts.

    ``func`` is the loaded reference; expected values are its outputs (the generator's own
    arithmetic is unreliable anyway: ``plum_data.testgen`` recomputes them from the reference).
    """
    name, arg = problem.entry_point, "xs" if instance.domain == "list" else "s"
    solution = f"def {name}({arg}):\n{instance.body()}"
    empty: Any = [] if instance.domain == "list" else ""
    analysis = f"Steps: {_plan(instance)}.\nAn empty input gives {func(empty)!r}."
    tests = "\n".join(f"assert {name}({x!r}) == {func(x)!r}" for x in probing_inputs(instance)[:n_tests])
    answer = f"### Analysis\n{analysis}\n\n### Solution\n```python\n{solution}```\n\n### Tests\n```python\n{tests}\n```\n"
    return generator_prompt(problem, n_tests), answer


def probing_inputs(instance: Instance) -> list[Any]:
    """Fixed inputs, then inputs around the problem's constants (where off-by-one errors show)."""
    constants = instance.constants
    if instance.domain == "list":
        ints = [v for v in constants if isinstance(v, int)] or [3]
        k = ints[0]
        return [*_LIST_INPUTS, [k - 1, k, k + 1], [2 * k, -k, k + 2, 0, 1]]
    chars = "".join(str(v) for v in constants) or "e"
    return [*_STRING_INPUTS, f"{chars}a{chars}B {chars}", f"x{chars.upper()}{chars} 7{chars}"]


def _plan(instance: Instance) -> str:
    """The analysis: each step as the code it becomes, in order."""
    parts = []
    if instance.conditions:
        parts.append("keep " + f" {instance.joiner} ".join(s.code() for s in instance.conditions))
    if instance.middle is not None:
        parts.append("map " + instance.middle.code())
    parts.append("return " + instance.final.code())
    return "; ".join(parts)
