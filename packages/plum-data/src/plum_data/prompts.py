"""Prompts for code generation: EvalPlus's instruct format for chat models, raw prompts for base models,
and LiveCodeBench's own formats for its problems.

Chat models get EvalPlus's instruction (the problem inside a code fence) and, when the backend
can continue an assistant message, EvalPlus's response prefix ending in an opened ```python
fence, so the model starts writing code at once and stops at the closing fence. Base models get
the problem prompt as it is (HumanEval's signature + docstring) and continue it.

LiveCodeBench problems get LiveCodeBench's prompts (lcb_runner/prompts/code_generation.py): for
chat models its system message and its question template, with the starter code (LeetCode) or
its stdin/stdout instruction; for base models its one-shot format ("### Question", "### Starter
Code", "### Answer") stopped at "###". Its answers are extracted by its rule
(``plum_exec.extraction.extract_livecodebench``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal

from plum_data.generation import Generator, Prompt
from plum_exec import pysource
from plum_exec.records import Problem

# evalplus 0.3.1, codegen.py: the defaults behind EvalPlus's published instruct-model numbers.
EVALPLUS_INSTRUCTION_PREFIX = (
    "Please provide a self-contained Python script that solves the following problem in a "
    "markdown code block:"
)
EVALPLUS_RESPONSE_PREFIX = (
    "Below is a Python script with a self-contained function that solves the problem and "
    "passes corresponding tests:"
)
# evalplus/provider/utility.py: EOS for every model, then extras for direct completion.
COMPLETION_STOP = ("\nif __name__", "\ndef main(", "\nprint(")
AFTER_SIGNATURE_STOP = ("\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert ")
AFTER_DOCSTRING_STOP = ('\n"""', "\nassert")
CLOSING_FENCE_STOP = ("\n```",)

# LiveCodeBench's prompt constants (PromptConstants in lcb_runner/prompts/code_generation.py).
LCB_SYSTEM_MESSAGE = (
    "You are an expert Python programmer. You will be given a question (problem specification) "
    "and will generate a correct Python program that matches the specification and passes all tests."
)
LCB_FORMAT_WITH_STARTER_CODE = (
    "You will use the following starter code to write the solution to the problem and enclose "
    "your code within delimiters."
)
LCB_FORMAT_WITHOUT_STARTER_CODE = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
    "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when "
    "the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT."
)
LCB_BASE_STOP = ("###",)  # its runner's default stop string
# One worked example per kind for base models, in LiveCodeBench's one-shot layout (its own
# examples are not bundled here; these are written for plumcode).
LCB_STDIN_EXAMPLE = {
    "question": (
        "You are given N integers A_1, ..., A_N. Print the sum of the even ones.\n\nInput\n\n"
        "The input is given from Standard Input in the following format:\nN\nA_1 A_2 ... A_N\n\n"
        "Output\n\nPrint the answer.\n\nConstraints\n\n- 1 \\leq N \\leq 100\n"
        "- 1 \\leq A_i \\leq 100\n\nSample Input 1\n\n4\n1 2 3 4\n\nSample Output 1\n\n6"
    ),
    "answer": "n = int(input())\na = list(map(int, input().split()))\nprint(sum(x for x in a if x % 2 == 0))",
}
LCB_FUNCTIONAL_EXAMPLE = {
    "question": (
        "You are given a 0-indexed integer array nums. Return the number of indices i such that "
        "nums[i] is strictly greater than every element after it.\n\nExample 1:\n\nInput: nums = [5,2,3,1]\n"
        "Output: 3\nExplanation: Indices 0, 2 and 3.\n\nConstraints:\n\n1 <= nums.length <= 100\n"
        "1 <= nums[i] <= 100"
    ),
    "starter_code": "class Solution:\n    def countLeaders(self, nums: List[int]) -> int:\n        ",
    "answer": (
        "class Solution:\n    def countLeaders(self, nums: List[int]) -> int:\n        best = 0\n"
        "        count = 0\n        for x in reversed(nums):\n            if x > best:\n"
        "                count += 1\n                best = x\n        return count"
    ),
}


@dataclass
class PromptConfig:
    """How problems become prompts.

    ``style``: ``chat`` (instruct models), ``completion`` (base models), or ``auto`` (chat when
    the generator has a chat template). An empty ``response_prefix`` turns prefilling off.
    """

    prompt_style: Literal["auto", "chat", "completion"] = field(
        default="auto",
        metadata={"help": "prompt format", "choices": ["auto", "chat", "completion"]},
    )
    instruction_prefix: str = field(
        default=EVALPLUS_INSTRUCTION_PREFIX, metadata={"help": "text before the fenced problem"}
    )
    response_prefix: str = field(
        default=EVALPLUS_RESPONSE_PREFIX,
        metadata={"help": "start of the assistant's answer, before an opened ```python fence"},
    )
    system_prompt: str = field(default="", metadata={"help": "optional system message"})


@dataclass(frozen=True)
class BuiltPrompt:
    """A prompt, the stop strings that suit it, and the text the response continues (prefix)."""

    prompt: Prompt
    stop: tuple[str, ...]
    prefix: str = ""
    style: Literal["chat", "completion"] = "chat"


def resolve_style(config: PromptConfig, generator: Generator) -> Literal["chat", "completion"]:
    if config.prompt_style != "auto":
        return config.prompt_style
    return "chat" if generator.chat else "completion"


def build_prompt(problem: Problem, config: PromptConfig, generator: Generator) -> BuiltPrompt:
    style = resolve_style(config, generator)
    if is_livecodebench(problem):
        if style == "completion":
            return lcb_completion_prompt(problem)
        return lcb_chat_prompt(problem, config.system_prompt or LCB_SYSTEM_MESSAGE)
    if style == "completion":
        return completion_prompt(problem)
    return chat_prompt(problem.prompt, config, prefill=generator.prefill)


def is_livecodebench(problem: Problem) -> bool:
    return problem.metadata.get("benchmark") == "livecodebench"


def lcb_question(content: str, starter_code: str) -> str:
    """LiveCodeBench's generic question template (its ``get_generic_question_template_answer``)."""
    prompt = f"### Question:\n{content}\n\n"
    if starter_code:
        prompt += f"### Format: {LCB_FORMAT_WITH_STARTER_CODE}\n```python\n{starter_code}\n```\n\n"
    else:
        prompt += f"### Format: {LCB_FORMAT_WITHOUT_STARTER_CODE}\n```python\n# YOUR CODE HERE\n```\n\n"
    return prompt + "### Answer: (use the provided format with backticks)\n\n"


def lcb_chat_prompt(problem: Problem, system_message: str = LCB_SYSTEM_MESSAGE) -> BuiltPrompt:
    """LiveCodeBench's chat prompt: its system message, then the question; no prefill."""
    messages = [
        {"role": "system", "content": system_message},
        {"role": "user", "content": lcb_question(problem.prompt, problem.metadata.get("starter_code", ""))},
    ]
    return BuiltPrompt(messages, stop=())


def lcb_completion_prompt(problem: Problem) -> BuiltPrompt:
    """LiveCodeBench's base-model prompt: one solved example, then the question, stopped at "###"."""
    starter_code = problem.metadata.get("starter_code", "")
    example = LCB_FUNCTIONAL_EXAMPLE if starter_code else LCB_STDIN_EXAMPLE
    prompt = _lcb_shot(example["question"], example.get("starter_code", ""), example["answer"], bool(starter_code))
    prompt += _lcb_shot(problem.prompt, starter_code, "", bool(starter_code))
    return BuiltPrompt(prompt, stop=LCB_BASE_STOP, style="completion")


def _lcb_shot(question: str, starter_code: str, answer: str, with_starter: bool) -> str:
    text = f"### Question\n{question}\n\n"
    if with_starter:
        text += f"### Starter Code\n{starter_code}\n\n"
    text += f"### Answer\n\n{answer}"
    return text + ("\n\n" if answer else "")


def chat_prompt(task: str, config: PromptConfig, *, prefill: bool) -> BuiltPrompt:
    """EvalPlus's ``make_raw_chat_prompt`` as messages (the backend applies the chat template)."""
    messages = [{"role": "system", "content": config.system_prompt}] if config.system_prompt else []
    messages.append({"role": "user", "content": f"{config.instruction_prefix}\n```\n{task.strip()}\n```\n"})
    if not (prefill and config.response_prefix):
        return BuiltPrompt(messages, stop=())
    prefix = f"{config.response_prefix}\n```python\n"
    messages.append({"role": "assistant", "content": prefix})
    return BuiltPrompt(messages, stop=CLOSING_FENCE_STOP, prefix=prefix)


def completion_prompt(problem: Problem) -> BuiltPrompt:
    """The raw problem prompt; stop strings as EvalPlus picks them for direct completion.

    A prompt that already defines the entry point (HumanEval) is continued with its body, so the
    next top-level statement ends it; a docstring-only prompt (MBPP) ends at the next docstring
    or assertion.
    """
    extra = AFTER_SIGNATURE_STOP if _defines(problem.prompt, problem.entry_point) else AFTER_DOCSTRING_STOP
    return BuiltPrompt(problem.prompt, stop=COMPLETION_STOP + extra, style="completion")


def _defines(prompt: str, name: str | None) -> bool:
    if not name:
        return False
    try:
        tree = pysource.parse(prompt + "\n    pass\n")
    except SyntaxError:
        return f"def {name}(" in prompt
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in ast.walk(tree))
