"""plumcode: learn from executed samples (PLUM) to make code LLMs write correct programs.

The Python API mirrors the commands; names load on first use, so ``import plumcode`` stays fast::

    import plumcode

    config = plumcode.load_run_config("examples/cpu_tiny.yaml")
    summary = plumcode.run(config, "runs/tiny")            # plum run
    plumcode.write_report("runs/tiny")                     # plum report

    # or one stage alone, each reading and writing the same files as its command
    stats = plumcode.synthesize_tests(instructions, generator, "tests.jsonl")        # plum testgen
    samples = plumcode.sample_problems(problems, generator, params, "samples.jsonl")  # plum sample
    summary = plumcode.evaluate_samples(problems, samples, "results.jsonl", plumcode.EvaluationConfig())
    stats = plumcode.build_preferences("tests.jsonl", "samples.jsonl", "results.jsonl", "prefs/")
    model = plumcode.train(plumcode.TrainConfig(model="..."), "prefs/kto.jsonl", "train/")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "RunConfig": "plumcode.loop",
    "EvalSetsConfig": "plumcode.loop",
    "load_run_config": "plumcode.loop",
    "run": "plumcode.loop",
    "write_report": "plumcode.report",
    "InstructionsConfig": "plumcode.instructions",
    "load_instructions": "plumcode.instructions",
    "TestGenConfig": "plumcode.testgen",
    "synthesize_tests": "plumcode.testgen",
    "GeneratorConfig": "plumcode.generation",
    "SamplingParams": "plumcode.generation",
    "load_generator": "plumcode.generation",
    "PromptConfig": "plumcode.prompts",
    "sample_problems": "plumcode.sampling",
    "SandboxConfig": "plumcode.sandbox",
    "Sandbox": "plumcode.sandbox",
    "load_benchmark": "plumcode.problems",
    "load_problems_jsonl": "plumcode.problems",
    "EvaluationConfig": "plumcode.evaluation",
    "evaluate_samples": "plumcode.evaluation",
    "read_samples": "plumcode.evaluation",
    "PrefsConfig": "plumcode.preferences",
    "build_preferences": "plumcode.preferences",
    "TrainConfig": "plumcode.training",
    "train": "plumcode.training",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'plumcode' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
