"""plum-exec: run model-written programs against tests in a sandbox and score them (pass@k).

The bottom of plumcode's stack: no torch, no model code. Names load on first use::

    from plum_exec import EvaluationConfig, evaluate_samples, load_benchmark, read_samples

    problems = load_benchmark("humaneval")
    samples = read_samples("samples.jsonl", problems)
    summary = evaluate_samples(problems, samples, "results.jsonl", EvaluationConfig(workers=8))
"""

from __future__ import annotations

from plum_exec.lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it.
EXPORTS = {
    "PlumError": "plum_exec.errors",
    "SandboxConfig": "plum_exec.sandbox",
    "Sandbox": "plum_exec.sandbox",
    "load_benchmark": "plum_exec.problems",
    "load_problems_jsonl": "plum_exec.problems",
    "load_livecodebench": "plum_exec.problems",
    "BENCHMARKS": "plum_exec.problems",
    "EvaluationConfig": "plum_exec.evaluation",
    "evaluate_samples": "plum_exec.evaluation",
    "read_samples": "plum_exec.evaluation",
    "estimate_pass_at_k": "plum_exec.metrics",
    "extract_code": "plum_exec.extraction",
    "program_from_response": "plum_exec.extraction",
    "PlumTestReward": "plum_exec.rewards",
}

__all__ = ["__version__", *EXPORTS]

__getattr__, __dir__ = lazy_exports("plum_exec", EXPORTS, globals())
