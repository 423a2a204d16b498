"""scripts/train_demo_models.py on a tiny budget: it runs end to end, writes folders the Auto
classes load (left padding saved), and two runs give byte-identical models (the issue's
"regenerates both models deterministically")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_demo_models.py"
TINY = ["--policy-steps", "3", "--testgen-steps", "2", "--policy-examples", "120", "--testgen-examples", "80"]


def train(out: Path, *extra: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": str(len(str(out)))}
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *TINY, *extra],
                   check=True, capture_output=True, text=True, env=env, timeout=300)
    return json.loads((out / "training_report.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_tiny_run_is_deterministic_and_loadable(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = train(tmp_path / "a", "--policy-phrasings", "2")
    train(tmp_path / "bb", "--policy-phrasings", "2")  # another hash seed too
    assert first["policy_style"]["phrasings"] == 2 and first["policy"]["recipe"]["steps"] == 3
    assert first["policy_bug_rate"] == 0.5
    for name in ("policy", "testgen"):
        for file in ("model.safetensors", "tokenizer.json"):
            assert (tmp_path / "a" / name / file).read_bytes() == (tmp_path / "bb" / name / file).read_bytes(), (name, file)
        tokenizer = AutoTokenizer.from_pretrained(tmp_path / "a" / name)
        model = AutoModelForCausalLM.from_pretrained(tmp_path / "a" / name)
        assert tokenizer.padding_side == "left"
        assert model.config.vocab_size == len(tokenizer)


@pytest.mark.slow
def test_policy_seed_changes_the_policy_only(tmp_path: Path) -> None:
    train(tmp_path / "s0", "--only", "policy")
    train(tmp_path / "s1", "--only", "policy", "--policy-seed", "1")
    assert not (tmp_path / "s0" / "testgen").exists()
    assert (tmp_path / "s0" / "policy" / "tokenizer.json").read_bytes() == (tmp_path / "s1" / "policy" / "tokenizer.json").read_bytes()
    assert (tmp_path / "s0" / "policy" / "model.safetensors").read_bytes() != (tmp_path / "s1" / "policy" / "model.safetensors").read_bytes()
