"""``plum testgen``: problem statements -> problems JSONL with validated tests (PLUM stage 1)."""

from __future__ import annotations

import argparse
from typing import Any

from plumcode.config import add_arguments, build, load_yaml
from plumcode.errors import PlumError

EXAMPLES = """\
examples:
  plum testgen --generator-model Qwen/Qwen2.5-Coder-7B-Instruct --mbpp mbpp.jsonl --out mbpp_tests.jsonl
  plum testgen --generator-model gpt-4o --base-url https://api.openai.com/v1 \\
      --hf-dataset oss_instruct.jsonl --instruction-field problem --n-references 4 --temperature 0.8 \\
      --out oss_tests.jsonl
  plum testgen --config testgen.yaml --out tests.jsonl   # YAML sections: instructions, generator, testgen, sandbox
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from plumcode.generation import GeneratorConfig
    from plumcode.instructions import InstructionsConfig
    from plumcode.sandbox import SandboxConfig
    from plumcode.testgen.config import TestGenConfig

    parser = subparsers.add_parser(
        "testgen",
        help="synthesize validated tests for natural-language problems",
        description="Ask a generator model for a reference solution and assertions per problem, "
        "keep the assertions the references pass, and write problems JSONL plus a stats report.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", required=True, help="output problems JSONL (log and stats go beside it)"
    )
    parser.add_argument(
        "--config", help="YAML file with sections instructions/generator/testgen/sandbox"
    )
    add_arguments(parser.add_argument_group("instruction source (exactly one)"), InstructionsConfig)
    generator = parser.add_argument_group("generator")
    generator.add_argument(
        "--generator-model",
        dest="model",
        help="the test-generator model (folder, hub id, or server model name)",
    )
    add_arguments(generator, GeneratorConfig, skip=("model",))
    add_arguments(parser.add_argument_group("test synthesis"), TestGenConfig)
    add_arguments(parser.add_argument_group("sandbox"), SandboxConfig, skip=("preload",))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from plumcode.generation import GeneratorConfig, load_generator
    from plumcode.instructions import InstructionsConfig, load_instructions
    from plumcode.sandbox import SandboxConfig
    from plumcode.testgen import TestGenConfig, synthesize_tests
    from plumcode.testgen.prompts import load_templates

    sections, where = _sections(args.config)
    instructions_config = _config(InstructionsConfig, args, sections, where, "instructions")
    testgen_config = _config(TestGenConfig, args, sections, where, "testgen")
    sandbox_config = _config(SandboxConfig, args, sections, where, "sandbox")
    generator_config = _config(GeneratorConfig, args, sections, where, "generator")
    instructions = load_instructions(instructions_config)
    if not instructions:
        raise PlumError("the instruction source holds no instructions")
    # Checked here too so that a bad template fails before the model loads, not after.
    load_templates(testgen_config.prompt_template, testgen_config.policy_prompt_template)
    generator = load_generator(generator_config)
    stats = synthesize_tests(instructions, generator, args.out, testgen_config, sandbox_config)
    return 0 if stats["problems_infra_error"] == 0 else 1


_SECTIONS = ("instructions", "generator", "testgen", "sandbox")


def _sections(path: str | None) -> tuple[dict[str, dict[str, Any]], str]:
    """The YAML file's sections (one per config class), and how errors should name the file."""
    if path is None:
        return {}, "command line"
    data = load_yaml(path)
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise PlumError(
            f"{path}: unknown section(s) {', '.join(unknown)} (sections: {', '.join(_SECTIONS)})"
        )
    for name, section in data.items():
        if not isinstance(section, dict):
            raise PlumError(f"{path}: section '{name}' must be a mapping")
    return data, f"{path} + command line"


def _config(
    cls: type, args: argparse.Namespace, sections: dict[str, dict[str, Any]], where: str, name: str
) -> Any:
    """A YAML section's values overridden by the flags given on the command line.

    Not ``config.from_namespace``: that needs a complete base config, and a section alone may
    not be one (the model or the instruction source often comes from the command line).
    """
    values = dict(sections.get(name, {}))
    values.update(
        {
            f: getattr(args, f)
            for f in cls.__dataclass_fields__
            if getattr(args, f, None) is not None
        }
    )
    return build(cls, values, where=f"{where} ({name})")
