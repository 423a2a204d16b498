"""The shipped demo models: loadable from their folders with the Auto classes, the right size,
left padding saved on disk, a tokenizer that keeps prompt and completion tokens apart, a policy
that solves part of the problems, and a test generator whose answers the testgen parser reads."""

from __future__ import annotations

import pytest

from plum_data.generation import GeneratorConfig, SamplingParams, load_generator
from plum_data.instructions import Instruction
from plum_data.prompts import completion_prompt
from plum_data.testgen import build_candidate
from plum_exec.records import PASS
from plum_exec.sandbox import Job, Sandbox, SandboxConfig
from plumcode.demo import POLICY_DIR, TESTGEN_DIR
from plumcode.demo.corpus import generator_prompt
from plumcode.demo.family import ProblemFamily
from plumcode.demo.sets import eval_problems

MODELS = [POLICY_DIR, TESTGEN_DIR]


@pytest.fixture(scope="module")
def family() -> ProblemFamily:
    return ProblemFamily()


@pytest.mark.parametrize("folder", MODELS, ids=lambda p: p.name)
def test_model_folder_loads_with_auto_classes(folder) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert tokenizer.padding_side == "left"  # saved at construction: batched generation pads left
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert 3_000_000 <= sum(p.numel() for p in model.parameters()) <= 4_000_000
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20


def test_prompt_and_completion_tokens_do_not_merge(family: ProblemFamily) -> None:
    """TRL tokenizes prompt + completion together; generation tokenizes the prompt alone."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(POLICY_DIR)
    for problem in family.sample_problems("seen", "tokenizer-test", 50):
        prompt, body = problem.prompt, problem.metadata["body"]
        assert tokenizer(prompt)["input_ids"] + tokenizer(body)["input_ids"] == tokenizer(prompt + body)["input_ids"]


def test_policy_solves_part_of_the_problems(family: ProblemFamily) -> None:
    problems = eval_problems(family, "seen", 24)
    generator = load_generator(GeneratorConfig(model=str(POLICY_DIR), batch_size=24))
    built = [completion_prompt(p) for p in problems]
    outputs = generator.generate([b.prompt for b in built], SamplingParams(n=1, temperature=0.0, max_new_tokens=96, stop=built[0].stop))
    jobs = [Job(program=p.prompt + out[0].text, tests=p.tests, entry_point=p.entry_point) for p, out in zip(problems, outputs, strict=True)]
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        passed = sum(all(o.status == PASS for o in result.outcomes) for _, result in sandbox.run(jobs))
    assert all(out[0].finish_reason == "stop" for out in outputs)
    assert 6 <= passed < len(problems)  # solves some, not all: room for PLUM to improve it


def test_generator_answers_parse_into_reference_and_tests(family: ProblemFamily) -> None:
    problems = eval_problems(family, "instructions_only", 4)
    generator = load_generator(GeneratorConfig(model=str(TESTGEN_DIR), batch_size=4))
    outputs = generator.generate([generator_prompt(p, 6) for p in problems], SamplingParams(n=1, temperature=0.0, max_new_tokens=320))
    for problem, out in zip(problems, outputs, strict=True):
        instruction = Instruction(problem.task_id, problem.prompt, problem.entry_point, problem.prompt)
        candidate, reason = build_candidate(instruction, [out[0].text])
        assert reason is None and candidate is not None, out[0].text
        assert len(candidate.tests) >= 3
