"""``plum testgen``: problem statements -> problems JSONL with validated tests (PLUM stage 1)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from plum_data.generation import GeneratorConfig
from plum_data.instructions import InstructionsConfig
from plum_data.testgen.config import TestGenConfig
from plum_exec import config as cfg
from plum_exec.command import examples, exit_with
from plum_exec.errors import PlumError
from plum_exec.publish import hub_options
from plum_exec.sandbox import active_isolation
from plum_exec.sandbox.config import SandboxConfig

EXAMPLES = """
plum testgen --generator-model Qwen/Qwen2.5-Coder-7B-Instruct --mbpp mbpp.jsonl --out mbpp_tests.jsonl
plum testgen --generator-model gpt-4o --base-url https://api.openai.com/v1 \\
    --hf-dataset oss_instruct.jsonl --instruction-field problem --n-references 4 --temperature 0.8 \\
    --out oss_tests.jsonl
plum testgen --config testgen.yaml --out tests.jsonl   # YAML sections: instructions, generator, testgen, sandbox
"""

# YAML section -> the config class it holds.
_SECTIONS: dict[str, type] = {
    "instructions": InstructionsConfig,
    "generator": GeneratorConfig,
    "testgen": TestGenConfig,
    "sandbox": SandboxConfig,
}


@click.command(short_help="synthesize validated tests for natural-language problems", epilog=examples(EXAMPLES))
@click.option("--out", required=True,
              help="output problems JSONL (log, stats and the dataset folder go beside it), or a folder")  # fmt: skip
@click.option("--config", "config_path", help="YAML file with sections instructions/generator/testgen/sandbox")
@cfg.options(InstructionsConfig)
@click.option("--generator-model", "model",
              help="the test-generator model (folder, hub id, or server model name)")  # fmt: skip
@cfg.options(GeneratorConfig, skip=("model",))
@cfg.options(TestGenConfig)
@cfg.options(SandboxConfig, skip=("preload",))
@click.option("--ray", metavar="ADDRESS",
              help="validate on the Ray cluster at HOST:PORT (or auto); --workers is then per node (docs/scaling.md)")  # fmt: skip
@hub_options
def testgen(**params: Any) -> None:
    """Ask a generator model for a reference solution and assertions per problem, keep the
    assertions the references pass, and write problems JSONL plus a stats report."""
    from plum_data.generation import load_generator
    from plum_data.instructions import load_instructions
    from plum_data.testgen import synthesize_tests
    from plum_data.testgen.pipeline import testgen_card
    from plum_data.testgen.prompts import load_templates
    from plum_exec import publish

    target = publish.push_target(params)
    sections, where = _sections(params["config_path"])
    configs = {
        name: _config(cls, params, sections.get(name, {}), f"{where} ({name})")
        for name, cls in _SECTIONS.items()
    }
    instructions = load_instructions(configs["instructions"])
    if not instructions:
        raise PlumError("the instruction source holds no instructions")
    # Checked here too so that a bad template fails before the model loads, not after.
    load_templates(configs["testgen"].prompt_template, configs["testgen"].policy_prompt_template)
    generator = load_generator(configs["generator"])
    out, folder = publish.stage_paths(params["out"], "problems.jsonl")
    publish.start_stage(folder)
    workers = {**sections.get("sandbox", {}), **cfg.given(SandboxConfig, params)}.get("workers")
    stats = synthesize_tests(
        instructions, generator, out, configs["testgen"], configs["sandbox"], ray=params["ray"], ray_workers=workers
    )
    if stats["problems_infra_error"]:  # incomplete: a rerun retries those; publish nothing half done
        print(f"{stats['problems_infra_error']} problems hit sandbox faults: rerun to finish; no dataset written")
        exit_with(1)
        return
    record = publish.provenance(
        "testgen",
        inputs={"instructions": _instruction_source(configs["instructions"])},
        models={"test generator": configs["generator"].model},
        generator=_without_secrets(configs["generator"]),
        testgen=configs["testgen"],
        execution={**dataclasses.asdict(configs["sandbox"]), "isolation_used": active_isolation(configs["sandbox"].isolation)},
    )
    publish.finish_stage(folder, testgen_card(out, stats, record), target)


def _instruction_source(config: InstructionsConfig) -> str | None:
    """The dataset the instructions came from, when it is a file, folder or Hub dataset plum can pin."""
    from plum_exec.datasets_io import is_dataset_spec

    for value in (config.problems, config.mbpp, config.hf_dataset):
        if value and (Path(value).is_file() or is_dataset_spec(value)):
            return value
    return None


def _without_secrets(config: GeneratorConfig) -> dict[str, Any]:
    """The generator settings for a card: the API key's variable name is kept, never a value."""
    values = dataclasses.asdict(config)
    return {key: value for key, value in values.items() if "api_key" not in key or key.endswith("_env")}


def _sections(path: str | None) -> tuple[dict[str, dict[str, Any]], str]:
    """The YAML file's sections (one per config class), and how errors should name the file."""
    if path is None:
        return {}, "command line"
    data = cfg.load_yaml(path)
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise PlumError(
            f"{path}: unknown section(s) {', '.join(unknown)} (sections: {', '.join(_SECTIONS)})"
        )
    for name, section in data.items():
        if not isinstance(section, dict):
            raise PlumError(f"{path}: section '{name}' must be a mapping")
    return data, f"{path} + command line"


def _config(cls: type, params: dict[str, Any], section: dict[str, Any], where: str) -> Any:
    """A YAML section's values overridden by the flags given on the command line.

    Not ``config.from_params``: that needs a complete base config, and a section alone may
    not be one (the model or the instruction source often comes from the command line).
    """
    return cfg.build(cls, {**section, **cfg.given(cls, params)}, where=where)
