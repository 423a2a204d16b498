"""LiveCodeBench problems get LiveCodeBench's prompts and its extraction rule when sampled."""

from __future__ import annotations

import pytest

from plum_data.generation import GeneratorConfig, SamplingParams, load_generator
from plum_data.prompts import (
    LCB_BASE_STOP,
    LCB_SYSTEM_MESSAGE,
    PromptConfig,
    build_prompt,
    lcb_question,
)
from plum_data.sampling import sample_problems
from plum_exec.extraction import extract_livecodebench
from plum_exec.records import Problem, TestCase

STDIN = Problem(
    "abc300_a", "Print the sum of A and B.", tests=[TestCase("stdio", inputs="1 2", expected="3", has_expected=True)],
    metadata={"benchmark": "livecodebench", "starter_code": ""},
)  # fmt: skip
LEETCODE = Problem(
    "2000", "Return twice x.", entry_point="twice",
    tests=[TestCase("functional", inputs="2", expected=4, has_expected=True)],
    metadata={"benchmark": "livecodebench", "starter_code": "class Solution:\n    def twice(self, x: int) -> int:\n        "},
)  # fmt: skip


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    return load_generator(GeneratorConfig(model=str(tiny_model_dir), backend="transformers"))


def test_question_template_as_lcb_builds_it() -> None:
    stdin = lcb_question("Q", "")
    assert stdin == (
        "### Question:\nQ\n\n### Format: Read the inputs from stdin solve the problem and write the answer to "
        "stdout (do not directly test on the sample inputs). Enclose your code within delimiters as follows. "
        "Ensure that when the python program runs, it reads the inputs, runs the algorithm and writes output "
        "to STDOUT.\n```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the provided format with backticks)\n\n"
    )
    starter = lcb_question("Q", "class Solution:\n    def f(self):\n        ")
    assert starter == (
        "### Question:\nQ\n\n### Format: You will use the following starter code to write the solution to the "
        "problem and enclose your code within delimiters.\n```python\nclass Solution:\n    def f(self):\n        \n"
        "```\n\n### Answer: (use the provided format with backticks)\n\n"
    )


def test_chat_prompt_is_lcbs_system_message_and_question(generator) -> None:
    built = build_prompt(LEETCODE, PromptConfig(prompt_style="chat"), generator)
    assert built.prompt == [
        {"role": "system", "content": LCB_SYSTEM_MESSAGE},
        {"role": "user", "content": lcb_question(LEETCODE.prompt, LEETCODE.metadata["starter_code"])},
    ]
    assert built.stop == () and built.prefix == ""


def test_base_prompt_is_one_shot_and_stops_at_hashes(generator) -> None:
    built = build_prompt(LEETCODE, PromptConfig(prompt_style="completion"), generator)
    assert built.stop == LCB_BASE_STOP and built.style == "completion"
    assert built.prompt.count("### Question\n") == 2 and built.prompt.count("### Starter Code\n") == 2
    assert built.prompt.endswith("### Question\nReturn twice x.\n\n### Starter Code\n" + LEETCODE.metadata["starter_code"] + "\n\n### Answer\n\n")
    stdin = build_prompt(STDIN, PromptConfig(prompt_style="completion"), generator).prompt
    assert "### Starter Code" not in stdin and stdin.endswith("### Question\nPrint the sum of A and B.\n\n### Answer\n\n")


def test_sampled_solutions_follow_lcbs_extraction(generator, tmp_path) -> None:
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=8, seed=0)
    chat = sample_problems([STDIN], generator, params, tmp_path / "chat.jsonl", prompt_config=PromptConfig(prompt_style="chat"))
    assert [s.solution for s in chat] == [extract_livecodebench(s.response or "") for s in chat]
    base = sample_problems([STDIN], generator, params, tmp_path / "base.jsonl", prompt_config=PromptConfig(prompt_style="completion"))
    assert [s.solution for s in base] == [(s.response or "").strip() for s in base]
