"""``run``: the stages in order, skipping finished ones; summary.json; adopting a run folder."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from plum_exec.errors import PlumError
from plum_exec.jsonl import atomic_path, write_json
from plum_exec.versions import installed_versions
from plumcode.loop.config import RunConfig, config_to_dict, load_run_config
from plumcode.loop.folder import (
    RunFolder,
    Stage,
    discard,
    fingerprints,
    locked,
    mark_done,
    stage_state,
)
from plumcode.loop.hub import RunPublisher
from plumcode.loop.stages import RunStages

VERSIONED_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "vllm")


def run(
    config: RunConfig,
    run_dir: str | Path,
    *,
    force: bool = False,
    console: Any = None,
) -> dict[str, Any]:
    """Run (or resume) the PLUM loop in ``run_dir``; return the summary (also in summary.json).

    Finished stages are skipped. If ``run_dir`` was started with a different config, the stages
    it affects are named in a PlumError, or with ``force`` discarded and redone.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    folder = RunFolder(run_dir)
    loop = RunStages(config, folder, console)
    publisher = RunPublisher(config, folder, console)
    stages = loop.stages()
    prints = fingerprints(stages)
    with locked(folder):
        _adopt(folder, config, stages, prints, force)
        publisher.check()  # a missing or wrong token fails now, not after the first round
        for number, stage in enumerate(stages, start=1):
            if stage_state(stage, folder, prints[stage.key]) != "done":
                _run_stage(stage, folder, prints[stage.key], f"[{number}/{len(stages)}]", console)
                if "/eval/" in stage.key:
                    write_summary(folder, stages)
            publisher.publish(stage, prints[stage.key])
        loop.release_policy()
        summary = write_summary(folder, stages)
    return summary


def _run_stage(stage: Stage, folder: RunFolder, fingerprint: str, progress: str, console: Any) -> None:
    console.print(f"[bold]plum run[/] {progress} {stage.key}: started")
    started = time.monotonic()
    stats = stage.action()
    mark_done(stage, folder, fingerprint, time.monotonic() - started, stats)
    console.print(
        f"[bold]plum run[/] {progress} {stage.key}: done in "
        f"{time.monotonic() - started:.1f} s ({_brief(stats)})"
    )


def write_summary(folder: RunFolder, stages: list[Stage]) -> dict[str, Any]:
    """summary.json: ``{"rounds": [{"round": r, "eval": {name: {"pass@1", "n"}}}]}`` from finished
    evaluations; a GRPO round also has ``"train"``: its rewards, pass rate and KL (``loop.grpo``)."""
    from plumcode.loop.grpo import SUMMARY_KEYS

    rounds: dict[int, dict[str, Any]] = {}
    training: dict[int, dict[str, Any]] = {}
    for stage in stages:
        parts = stage.key.split("/")
        marker = folder.marker(stage.key)
        if len(parts) == 4 and parts[1] == "eval" and parts[3] == "execute" and marker.is_file():
            stats = json.loads(marker.read_text(encoding="utf-8"))["stats"]
            rounds.setdefault(int(parts[0][6:]), {})[parts[2]] = _pass_at_1(stats)
        elif parts[-1] == "train" and marker.is_file():
            stats = json.loads(marker.read_text(encoding="utf-8"))["stats"]
            if "reward_mean" in stats:
                training[int(parts[0][6:])] = {key: stats.get(key) for key in SUMMARY_KEYS}
    summary = {"rounds": [
        {"round": r, "eval": rounds.get(r, {}), **({"train": training[r]} if r in training else {})}
        for r in sorted(set(rounds) | set(training))
    ]}  # fmt: skip
    write_json(folder.summary, summary)
    return summary


def _pass_at_1(stats: dict[str, Any]) -> dict[str, Any]:
    return {"pass@1": float(stats["pass@1"]), "n": int(stats["n"])}


def _adopt(
    folder: RunFolder, config: RunConfig, stages: list[Stage], prints: dict[str, str], force: bool
) -> None:
    """Make ``folder`` this config's run folder: refuse (or, forced, discard) work done under another config."""
    previous = _previous_fingerprints(folder)
    stale = [
        stage
        for stage in stages
        if (state := stage_state(stage, folder, prints[stage.key])) == "stale"
        or (
            state == "partial"
            and previous is not None
            and previous.get(stage.key) != prints[stage.key]
        )
    ]
    if stale and not force:
        raise PlumError(
            f"{folder.root}: the config differs from the one this run was started with "
            f"({_config_diff(folder, config)}); {len(stale)} started or finished stages would be redone, "
            f"first {stale[0].key}. Rerun with --force to redo them, or use another run folder"
        )
    for stage in stale:
        discard(stage, folder)
    folder.root.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder.config) as tmp:
        tmp.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
    _record_versions(folder)


def _previous_fingerprints(folder: RunFolder) -> dict[str, str] | None:
    """Fingerprints under the config the folder holds; None for a new folder or an unreadable config."""
    if not folder.config.is_file():
        return None
    try:
        previous = load_run_config(folder.config)
    except PlumError:
        return {}  # written by an incompatible version: treat every started stage as changed
    return fingerprints(RunStages(previous, folder, None).stages())


def _config_diff(folder: RunFolder, config: RunConfig) -> str:
    old = flatten(yaml.safe_load(folder.config.read_text(encoding="utf-8")) or {})
    new = flatten(config_to_dict(config))
    changed = [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    return (
        "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")
        or "no key differs"
    )


def flatten(values: dict[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested mappings as one level: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}{sep}", sep))
        else:
            flat[prefix + key] = value
    return flat


def _record_versions(folder: RunFolder) -> None:
    """versions.json keeps the versions the run started with; a resume under others is noted there."""
    from plumcode import __version__

    # plumcode's own version from the package, so a run from source (PYTHONPATH=src) has it too.
    current = {"python": sys.version.split()[0], "plumcode": __version__}
    current.update(installed_versions(VERSIONED_PACKAGES))
    if not folder.versions.is_file():
        write_json(folder.versions, current)
        return
    recorded = json.loads(folder.versions.read_text(encoding="utf-8"))
    if {k: v for k, v in recorded.items() if k != "resumed_with"} != current:
        write_json(folder.versions, {**recorded, "resumed_with": current})


def _brief(stats: dict[str, Any]) -> str:
    scalars = [
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in stats.items()
        if isinstance(v, int | float | str)
    ]
    return ", ".join(scalars[:6])
