"""The PLUM loop: synthesize tests once, then rounds of sample -> execute -> prefs -> train -> evaluate.

Everything lives in one run folder, each stage's output a file or folder the next stage reads::

    config.yaml  versions.json  summary.json  report.html  plots/
    tests.jsonl (+ .log.jsonl, .stats.json)  instructions with their synthesized tests (cached)
    round_00/eval/<name>/                 the starting policy on each benchmark / split
    round_01/samples.jsonl                N programs per instruction from the current policy
             results.jsonl                their per-test verdicts
             prefs/{kto,dpo}.jsonl        preference data (+ stats.json)
             train/model/                 the policy of round 1 (+ checkpoints/, log_history.json)
             eval/<name>/                 that policy on each benchmark / split
    <stage>.done                          completion markers, e.g. round_01/sample.done

A stage is done when its marker exists; the marker is written atomically after the stage's
outputs are complete, and holds a fingerprint of the settings the outputs depend on (the stage's
config sections and its inputs' fingerprints). ``run`` skips done stages and calls the others,
which resume their own append-only logs, so an interrupted run loses nothing it finished.
Changing the config of an existing run changes fingerprints: the affected stages are named in
an error, or with ``force`` their outputs (and everything downstream) are discarded and redone.
"""

from plum_exec.jsonl import atomic_path
from plumcode.loop.config import (
    EvalSetsConfig,
    RunConfig,
    config_to_dict,
    load_eval_set,
    load_run_config,
    run_config_from_dict,
)
from plumcode.loop.folder import RunFolder, Stage, fingerprints, stage_state
from plumcode.loop.plan import dry_run, estimate_cost
from plumcode.loop.runner import flatten, run, write_summary

__all__ = [
    "EvalSetsConfig",
    "RunConfig",
    "RunFolder",
    "Stage",
    "atomic_path",
    "config_to_dict",
    "dry_run",
    "estimate_cost",
    "fingerprints",
    "flatten",
    "load_eval_set",
    "load_run_config",
    "run",
    "run_config_from_dict",
    "stage_state",
    "write_summary",
]
