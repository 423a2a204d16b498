"""The demo models' training text agrees with the code that reads model output: the policy's
target is exactly the reference body, and the test generator's target parses with
``plumcode.testgen``'s parser and survives its validation against its own reference."""

from __future__ import annotations

import random

import pytest

from plumcode.demo.corpus import generator_example, generator_prompt, policy_example, probing_inputs
from plumcode.demo.family import ProblemFamily, bind, load_entry_point
from plumcode.extraction import extract_code
from plumcode.instructions import Instruction
from plumcode.sandbox import Sandbox, SandboxConfig
from plumcode.testgen import build_candidate, validate
from plumcode.testgen.prompts import generator_messages, load_templates

N_TESTS = 6


@pytest.fixture(scope="module")
def drawn():
    family = ProblemFamily()
    pairs = []
    for split in ("seen", "instructions_only"):
        pairs += family.sample_with_instances(split, "corpus-test", 12)
    return pairs


def test_policy_target_is_the_reference_body(drawn) -> None:
    for problem, instance in drawn:
        prompt, completion = policy_example(problem)
        assert prompt == problem.prompt and completion == instance.body()
        assert prompt + completion == problem.reference


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
