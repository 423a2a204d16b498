"""plum-data: PLUM's data stages, from problem statements to preference datasets.

Synthesize tests (``synthesize_tests``), sample programs on-policy (``sample_problems``) and turn
executed samples into TRL's KTO / DPO data (``build_preferences``). Names load on first use::

    from plum_data import GeneratorConfig, SamplingParams, load_generator, sample_problems

    generator = load_generator(GeneratorConfig(model="Qwen/Qwen2.5-Coder-1.5B-Instruct"))
    samples = sample_problems(problems, generator, SamplingParams(n=8), "samples.jsonl")
"""

from __future__ import annotations

from plum_exec.lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it.
EXPORTS = {
    "InstructionsConfig": "plum_data.instructions",
    "load_instructions": "plum_data.instructions",
    "TestGenConfig": "plum_data.testgen",
    "synthesize_tests": "plum_data.testgen",
    "GeneratorConfig": "plum_data.generation",
    "SamplingParams": "plum_data.generation",
    "load_generator": "plum_data.generation",
    "PromptConfig": "plum_data.prompts",
    "sample_problems": "plum_data.sampling",
    "PrefsConfig": "plum_data.preferences",
    "build_preferences": "plum_data.preferences",
}

__all__ = ["__version__", *EXPORTS]

__getattr__, __dir__ = lazy_exports("plum_data", EXPORTS, globals())
