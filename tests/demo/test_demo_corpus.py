"""The demo models' training text agrees with the code that reads model output: the policy's
target is exactly the reference body, and the test generator's target parses with
``plum_data.testgen``'s parser and survives its validation against its own reference."""

from __future__ import annotations

import random

import pytest

from plum_data.instructions import Instruction
from plum_data.testgen import build_candidate, validate
from plum_data.testgen.prompts import generator_messages, load_templates
from plum_exec.extraction import extract_code
from plum_exec.sandbox import Sandbox, SandboxConfig
from plumcode.demo.corpus import (
    COMMON_BUGS,
    generator_example,
    generator_prompt,
    probing_inputs,
    with_common_bugs,
)
from plumcode.demo.family import KINDS, ProblemFamily, bind, load_entry_point

N_TESTS = 6


@pytest.fixture(scope="module")
def drawn():
    family = ProblemFamily()
    pairs = []
    for split in ("seen", "instructions_only"):
        pairs += family.sample_with_instances(split, "corpus-test", 12)
    return pairs


def test_policy_target_at_bug_rate_zero_is_the_reference_body(drawn) -> None:
    rng = random.Random(0)
    for problem, instance in drawn:
        completion = with_common_bugs(instance, 0.0, rng).body()
        assert completion == instance.body()
        assert problem.prompt + completion == problem.reference


def test_testgen_prompt_is_the_pipelines_own_rendering(drawn) -> None:
    from plumcode.demo.corpus import TESTGEN_TEMPLATE

    problem = drawn[0][0]
    templates = load_templates(str(TESTGEN_TEMPLATE))
    instruction = Instruction(problem.task_id, problem.prompt, problem.entry_point, problem.prompt)
    assert generator_prompt(problem, N_TESTS) == generator_messages(templates.generator, instruction, N_TESTS)[0]["content"]
    assert problem.prompt in generator_prompt(problem, N_TESTS)


def test_testgen_answer_parses_and_all_its_tests_validate(drawn) -> None:
    instructions, candidates = [], []
    for problem, instance in drawn:
        func = load_entry_point(problem.reference or "", problem.entry_point or "")
        _, answer = generator_example(problem, instance, func, N_TESTS)
        instruction = Instruction(problem.task_id, problem.prompt, problem.entry_point, problem.prompt)
        candidate, reason = build_candidate(instruction, [answer])
        assert reason is None and candidate is not None
        assert len(candidate.tests) == N_TESTS
        assert extract_code(answer, problem.entry_point).strip().startswith(f"def {problem.entry_point}(")
        instructions.append(instruction)
        candidates.append(candidate)
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        validations = validate(sandbox, candidates)
    assert all(len(v.tests) == N_TESTS and v.reference == 0 for v in validations)


def test_probing_inputs_use_the_problems_constants() -> None:
    rng = random.Random(0)
    for instance in (bind(c, rng) for c in [("list.gt", "list.sum"), ("str.nochar", "str.length")]):
        constant = instance.steps[0].params[0][1]
        assert any(str(constant) in repr(x) for x in probing_inputs(instance)[4:])


def _outcome(func, x):
    try:
        return func(x)
    except Exception as exc:  # noqa: BLE001 - a crash is an outcome the tests tell apart
        return type(exc)


@pytest.mark.parametrize("kind", sorted(COMMON_BUGS))
def test_common_bugs_are_caught_by_the_generators_inputs(kind: str) -> None:
    """Each bug changes the program, and the generator's probing inputs (what the loop's tests
    run) tell the buggy version from the right one: so the loop can learn which is which."""
    domain = kind.split(".")[0]
    other = {"list": ("list.negate", "list.sum"), "str": ("str.reverse", "str.string")}[domain]
    composition = (other[0], kind) if KINDS[kind].slot == "final" else (kind, other[1])
    rng = random.Random(0)
    for instance in (bind(composition, rng) for _ in range(5)):
        buggy = with_common_bugs(instance, 1.0, rng)
        assert buggy.body() != instance.body()
        assert with_common_bugs(instance, 0.0, rng).body() == instance.body()
        arg = "xs" if domain == "list" else "s"
        right = load_entry_point(f"def f({arg}):\n{instance.body()}", "f")
        wrong = load_entry_point(f"def f({arg}):\n{buggy.body()}", "f")
        assert any(_outcome(right, x) != _outcome(wrong, x) for x in probing_inputs(instance))
