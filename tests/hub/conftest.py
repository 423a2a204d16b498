"""A local Hub per test module, and a way to run plum's commands against it in fresh processes.

Each command runs in its own process with ``HF_ENDPOINT`` pointing at the local Hub, a new empty
``HF_HOME`` (no cache, no stored token), a dummy ``HF_TOKEN`` and ``HF_HUB_DISABLE_XET=1``
(huggingface_hub reads these at import, so they cannot be set inside the test process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import hub_server
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_local_test_token_0123456789"
SOURCES = [REPO_ROOT / "src", *sorted((REPO_ROOT / "packages").glob("*/src"))]
MODULES = {"plum": "plumcode", "plum-exec": "plum_exec", "plum-data": "plum_data", "plum-train": "plum_train"}


@pytest.fixture(scope="module")
def hub() -> Iterator[hub_server.HubServer]:
    server, _ = hub_server.start(user="ns", token=TOKEN)
    yield server
    server.shutdown()


class HubRunner:
    """Runs ``plum ...`` (or a package's own command) as a user would, against the local Hub."""

    def __init__(self, hub: hub_server.HubServer, root: Path) -> None:
        self.hub, self.root, self.count = hub, root, 0

    def env(self, **overrides: str | None) -> dict[str, str]:
        self.count += 1
        home = self.root / f"hf-home-{self.count}"
        home.mkdir()
        env = {**os.environ, "HF_ENDPOINT": self.hub.endpoint, "HF_HOME": str(home), "HF_TOKEN": TOKEN,
               "HF_HUB_DISABLE_XET": "1", "PYTHONPATH": os.pathsep.join(map(str, SOURCES)),
               "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
        env.pop("HF_HUB_OFFLINE", None)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, command: Sequence[str], *, check: bool = True, **env: str | None) -> subprocess.CompletedProcess[str]:
        """``command`` = ``["plum", "sample", ...]`` or ``["plum-data", "sample", ...]``, run in ``root``."""
        program, *args = command
        result = subprocess.run(
            [sys.executable, "-m", MODULES[program], *map(str, args)],
            cwd=self.root, env=self.env(**env), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    def python(self, code: str, **env: str | None) -> Any:
        """Run ``code`` in a fresh process against the Hub; it prints one JSON value, returned here."""
        result = subprocess.run([sys.executable, "-c", code], cwd=self.root, env=self.env(**env),
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"python failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def load_rows(self, repo_id: str, config: str | None = None, revision: str | None = None) -> list[dict[str, Any]]:
        """``load_dataset(repo_id, config, split="train")`` as any datasets user would call it."""
        return self.python(
            "import json; from datasets import load_dataset; "
            f"ds = load_dataset({repo_id!r}, {config!r}, split='train', revision={revision!r}); "
            "print(json.dumps(ds.to_list()))"
        )

    def repo_files(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        repo = self.hub.state.repos[(f"{repo_type}s", repo_id)]
        return sorted(repo.commit("main").files)


@pytest.fixture
def runner(hub: hub_server.HubServer, tmp_path: Path) -> HubRunner:
    return HubRunner(hub, tmp_path)
