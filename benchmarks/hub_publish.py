"""What publishing costs next to the JSONL a stage writes anyway, on synthetic sample rows.

Measures, in one process run (timings on a shared machine are noisy: read the ratios):
- writing the rows as JSONL (what the stage's log costs) vs writing the dataset folder
  (parquet + card) from them, and pushing the folder to a local Hub (tests/hub/hub_server.py);
- reading them back: JSONL vs the dataset folder vs the Hub id (fresh cache), each through
  plum_exec's readers.

    python benchmarks/hub_publish.py [--rows 20000] [--out benchmarks/results/hub_publish.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "hub"))

import hub_server  # noqa: E402

from plum_exec.jsonl import read_jsonl, write_jsonl  # noqa: E402

SOURCES = os.pathsep.join(str(p) for p in [ROOT / "src", *sorted((ROOT / "packages").glob("*/src"))])
PUSH = """
from pathlib import Path
from plum_exec.hub import PushTarget, push_folder
push_folder(Path({folder!r}), PushTarget("ns/bench"), stage="sample")
"""
READ = "from plum_exec.datasets_io import iter_rows\nn = sum(1 for _ in iter_rows({spec!r}))\nprint(n)"


def sample_rows(n: int) -> list[dict]:
    program = "def f(x):\n    total = 0\n    for i in range(x):\n        total += i * i\n    return total\n"
    return [{"task_id": f"t/{i // 8}", "sample_id": i % 8, "solution": program, "response": "```python\n" + program + "```",
             "metadata": {"prompt": [{"role": "user", "content": "Write f(x): the sum of squares below x. " * 4}],
                          "finish_reason": "stop", "prompt_tokens": 60, "completion_tokens": 40}}
            for i in range(n)]  # fmt: skip


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def in_process(code: str, env: dict[str, str]) -> float:
    """Seconds of a fresh Python process running ``code`` (its import time included, as a stage pays it)."""
    return timed(lambda: subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hub_publish.json"))
    args = parser.parse_args()
    from plum_data.sampling import samples_card
    from plum_exec.publish import finish_stage
    from plum_exec.records import Sample

    rows = sample_rows(args.rows)
    server, _ = hub_server.start()
    work = Path(tempfile.mkdtemp(prefix="plum-bench-"))
    env = {**os.environ, "PYTHONPATH": SOURCES, "HF_ENDPOINT": server.endpoint, "HF_HOME": str(work / "hf"),
           "HF_TOKEN": "hf_local_test_token_0123456789", "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # fmt: skip
    card = samples_card([Sample(**row) for row in rows], {})
    seconds = {
        "write_jsonl": timed(lambda: write_jsonl(work / "s.jsonl", rows)),
        "write_dataset_folder": timed(lambda: finish_stage(work / "s", card, None)),
    }
    seconds["push_to_local_hub"] = in_process(PUSH.format(folder=str(work / "s")), env)
    seconds["read_jsonl"] = timed(lambda: sum(1 for _ in read_jsonl(work / "s.jsonl")))
    seconds["read_folder_fresh_process"] = in_process(READ.format(spec=str(work / "s")), env)
    seconds["read_hub_fresh_process_empty_cache"] = in_process(READ.format(spec="ns/bench"), env)
    seconds["python_startup_with_imports"] = in_process("import datasets, huggingface_hub, plum_exec.datasets_io", env)
    server.shutdown()
    sizes = {"jsonl_bytes": (work / "s.jsonl").stat().st_size,
             "parquet_bytes": sum(p.stat().st_size for p in (work / "s" / "data").rglob("*.parquet"))}  # fmt: skip
    base = seconds["write_jsonl"]
    result = {"rows": args.rows, "seconds": {k: round(v, 3) for k, v in seconds.items()},
              "ratio_to_write_jsonl": {k: round(v / base, 2) for k, v in seconds.items()}, **sizes}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
