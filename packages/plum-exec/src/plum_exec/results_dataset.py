"""``plum evaluate-samples``'s dataset: one verdict per sample with its per-test outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from plum_exec.cards import StageCard
from plum_exec.datasets_io import ConfigData
from plum_exec.jsonl import read_jsonl
from plum_exec.records import Sample

RESULTS_FILE = "results.jsonl"
RESULT_COLUMNS = {
    "task_id": "problem id",
    "sample_id": "sample id within the problem (joins the samples dataset on task_id, sample_id)",
    "base_status": "verdict on the problem's tests: pass, fail, error, timeout, ... (infra_error: the "
    "sandbox failed, not the program)",
    "plus_status": "verdict on base + plus tests where the benchmark has plus tests, else null",
    "base_outcomes": "per test, in order: `status`, `duration` (seconds), `message`",
    "plus_outcomes": "the same for the plus tests",
    "duration": "seconds the sample's job took",
    "stderr": "the program's standard error (cut)",
    "failed_base": "indices of the base tests that did not pass",
    "failed_plus": "indices of the plus tests that did not pass",
}


def result_rows(log: str | Path, samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """The log's final row for each sample (a rerun appends, the last row wins), in sample order."""
    last = {(row["task_id"], row["sample_id"]): row for row in read_jsonl(log, tolerate_torn_tail=True)}
    return [last[key] for key in ((s.task_id, s.sample_id) for s in samples) if key in last]


def results_card(rows: list[dict[str, Any]], summary: dict[str, Any], provenance: dict[str, Any]) -> StageCard:
    return StageCard(
        stage="evaluate-samples",
        title="Execution results (plum evaluate-samples)",
        summary="Every sample run against its problem's tests in plum's sandbox: the verdict, and the "
        "outcome of each test. pass@k and the status counts are below; the execution limits and "
        "isolation level under Provenance.",
        configs=[ConfigData("default", rows, RESULT_COLUMNS)],
        stats=summary,
        provenance=provenance,
        tags=["execution", "unit-tests"],
    )
