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

import plum_data
import plum_exec
import plum_train
from plum_exec.lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it: the loop's and the report's, and every package's.
_EXPORTS = {
    **plum_exec.EXPORTS,
    **plum_data.EXPORTS,
    **plum_train.EXPORTS,
    "RunConfig": "plumcode.loop",
    "EvalSetsConfig": "plumcode.loop",
    "load_run_config": "plumcode.loop",
    "run": "plumcode.loop",
    "write_report": "plumcode.report",
}

__all__ = ["__version__", *_EXPORTS]

__getattr__, __dir__ = lazy_exports("plumcode", _EXPORTS, globals())
