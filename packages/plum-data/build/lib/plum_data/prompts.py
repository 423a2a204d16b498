"""Prompts for code generation: EvalPlus's instruct format for chat models, raw prompts for base models.

Chat models get EvalPlus's instruction (the problem inside a code fence) and, when the backend
can continue an assistant message, EvalPlus's response prefix ending in an opened ```python
fence, so the model starts writing code at once and stops at the closing fence. Base models get
the problem prompt as it is (HumanEval's signature + docstring) and continue it.
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
    if resolve_style(config, generator) == "completion":
        return completion_prompt(problem)
    return chat_prompt(problem.prompt, config, prefill=generator.prefill)


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
