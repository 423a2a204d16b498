"""Against the real Hugging Face Hub: skipped unless asked for with a namespace, a token and network.

    PLUM_REAL_HUB_NAMESPACE=my-user HF_TOKEN=hf_... pytest tests/hub/test_hub_real.py

It pushes a small prefs dataset to a new private repo, reads both configs back in a fresh
process (the real Hub validates the card's YAML, which the local server does not), and deletes
the repo.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest
from conftest import SOURCES

from plum_exec.cards import StageCard, render
from plum_exec.datasets_io import ConfigData, write_dataset_folder

NAMESPACE = os.environ.get("PLUM_REAL_HUB_NAMESPACE")


def _hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not (NAMESPACE and os.environ.get("HF_TOKEN") and _hub_reachable()),
    reason="needs PLUM_REAL_HUB_NAMESPACE, HF_TOKEN and network access to huggingface.co",
)


def test_push_and_load_on_the_real_hub(tmp_path):
    kto = [{"prompt": "p", "completion": "c", "label": True}, {"prompt": "p", "completion": "d", "label": False}]
    dpo = [{"prompt": "p", "chosen": "c", "rejected": "d"}]
    configs = [ConfigData("kto", kto, {}), ConfigData("dpo", dpo, {})]
    folder = write_dataset_folder(tmp_path / "p", configs, render(StageCard("prefs", "t", "s", configs)))
    repo_id = f"{NAMESPACE}/plum-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, SOURCES)), "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_ENDPOINT", None)
    try:
        subprocess.run([sys.executable, "-m", "plumcode", "push", str(folder), repo_id, "--private"],
                       env=env, check=True, timeout=300)  # fmt: skip
        code = ("import json; from datasets import load_dataset; "
                f"print(json.dumps([load_dataset({repo_id!r}, c, split='train').to_list() for c in ('kto', 'dpo')]))")  # fmt: skip
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
        import json

        assert json.loads(out.stdout.strip().splitlines()[-1]) == [kto, dpo]
    finally:
        from huggingface_hub import HfApi

        HfApi().delete_repo(repo_id, repo_type="dataset", missing_ok=True)
