"""The run folder's layout, stage markers with fingerprints, atomic writes and the folder lock."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from plum_exec.errors import PlumError
from plum_exec.jsonl import write_json


class RunFolder:
    """Where each artifact of a run lives: one definition shared by the loop and the report."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config = self.root / "config.yaml"
        self.versions = self.root / "versions.json"
        self.summary = self.root / "summary.json"
        self.tests = self.root / "tests.jsonl"
        self.plots = self.root / "plots"

    def round_dir(self, round_: int) -> Path:
        return self.root / f"round_{round_:02d}"

    def samples(self, round_: int) -> Path:
        return self.round_dir(round_) / "samples.jsonl"

    def results(self, round_: int) -> Path:
        return self.round_dir(round_) / "results.jsonl"

    def prefs(self, round_: int) -> Path:
        return self.round_dir(round_) / "prefs"

    def train(self, round_: int) -> Path:
        return self.round_dir(round_) / "train"

    def eval(self, round_: int, name: str) -> Path:
        return self.round_dir(round_) / "eval" / name

    def marker(self, key: str) -> Path:
        return self.root / f"{key}.done"

    def rounds(self) -> list[int]:
        """Rounds with a folder, in order."""
        return sorted(int(p.name[6:]) for p in self.root.glob("round_[0-9][0-9]") if p.is_dir())


@dataclass
class Stage:
    """One unit of resumable work: done when its marker exists with the expected fingerprint.

    ``settings`` are the config values its outputs depend on; ``inputs`` the stages whose outputs
    it reads. ``action`` does the work (resuming its own logs) and returns stats for the marker.
    """

    key: str
    outputs: list[Path]
    settings: dict[str, Any]
    action: Callable[[], dict[str, Any]]
    inputs: list[str] = field(default_factory=list)


def fingerprints(stages: list[Stage]) -> dict[str, str]:
    """Each stage's hash over its settings and its inputs' hashes (so changes flow downstream)."""
    prints: dict[str, str] = {}
    for stage in stages:
        payload = {"settings": stage.settings, "inputs": [prints[key] for key in stage.inputs]}
        prints[stage.key] = hashlib.sha256(
            json.dumps(payload, sort_keys=True).encode()
        ).hexdigest()[:16]
    return prints


def stage_state(
    stage: Stage, folder: RunFolder, fingerprint: str
) -> Literal["done", "stale", "partial", "todo"]:
    """done: finished with these settings; stale: finished with others; partial: started; todo."""
    marker = folder.marker(stage.key)
    if marker.is_file():
        recorded = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
        return "done" if recorded == fingerprint else "stale"
    return "partial" if any(path.exists() for path in stage.outputs) else "todo"


def mark_done(
    stage: Stage, folder: RunFolder, fingerprint: str, seconds: float, stats: dict[str, Any]
) -> None:
    write_json(
        folder.marker(stage.key),
        {
            "stage": stage.key,
            "fingerprint": fingerprint,
            "seconds": round(seconds, 3),
            "stats": stats,
        },
    )


def discard(stage: Stage, folder: RunFolder) -> None:
    folder.marker(stage.key).unlink(missing_ok=True)
    for path in stage.outputs:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def locked(folder: RunFolder) -> Iterator[None]:
    """One ``plum run`` per folder at a time; the OS drops the lock when the process dies."""
    import fcntl

    folder.root.mkdir(parents=True, exist_ok=True)
    with open(folder.root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlumError(f"{folder.root}: another plum run is using this run folder") from None
        yield
