"""plum train with several processes, and the example accelerate configs.

The multi-process test runs two CPU processes (gloo DDP) under torchrun, the launcher
``accelerate launch`` uses on GPUs: it checks that only the main process writes, that the
processes really split the data, and that the export loads.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_training import FIXTURES, assert_loads_and_generates

from plum_exec.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))


@pytest.mark.slow
def test_two_process_training_writes_once_and_splits_the_data(tmp_path, tiny_model_dir):
    rows = len(list(read_jsonl(FIXTURES / "prefs" / "kto.jsonl")))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "plum_train", "train", "--model", str(tiny_model_dir),
        "--data", str(FIXTURES / "prefs" / "kto.jsonl"), "--out", str(tmp_path / "train"),
        "--max-steps", "2", "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1",
        "--max-length", "128", "--no-gradient-checkpointing",
    ]  # fmt: skip
    # ACCELERATE_USE_CPU makes transformers set up gloo DDP across the CPU processes.
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained model:") == 1  # only the main process reports

    history = json.loads((tmp_path / "train" / "log_history.json").read_text())
    steps_per_epoch = math.ceil(rows / (2 * 2))  # 2 processes x 2 rows per step
    assert history[0]["epoch"] == pytest.approx(1 / steps_per_epoch)
    assert_loads_and_generates(tmp_path / "train" / "model")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_accelerate_configs_load_and_keep_whole_weights_in_checkpoints(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.mixed_precision == "bf16" and config.num_processes >= 1
    if config.deepspeed_config.get("zero_stage") == 3:
        assert config.deepspeed_config["zero3_save_16bit_model"] is True
    if config.fsdp_config:
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


def test_all_four_setups_are_shipped():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = [load_config_from_file(str(path)) for path in CONFIGS]
    kinds = {(c.distributed_type.value, c.deepspeed_config.get("zero_stage")) for c in configs}
    assert kinds == {("MULTI_GPU", None), ("DEEPSPEED", 2), ("DEEPSPEED", 3), ("FSDP", None)}
