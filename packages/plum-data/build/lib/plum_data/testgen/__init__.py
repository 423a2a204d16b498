"""Test synthesis (PLUM stage 1): natural-language problems -> problems with validated tests.

``synthesize_tests(instructions, generator, out_path, TestGenConfig(...))`` prompts a generator
for an analysis, a reference solution and assertions (``prompts``), parses the responses
(``parsing``), keeps the tests the references back up (``validation``) and writes the custom
problems JSONL with a stats report (``pipeline``). docs/testgen.md has the details and numbers.
"""

from plum_data.testgen.config import TestGenConfig
from plum_data.testgen.pipeline import build_candidate, output_paths, summarize, synthesize_tests
from plum_data.testgen.validation import (
    REJECTION_REASONS,
    Candidate,
    Rejection,
    Validation,
    dual_agreement,
    screen_tests,
    validate,
)

__all__ = [
    "REJECTION_REASONS",
    "Candidate",
    "Rejection",
    "TestGenConfig",
    "Validation",
    "build_candidate",
    "dual_agreement",
    "output_paths",
    "screen_tests",
    "summarize",
    "synthesize_tests",
    "validate",
]
