"""What every stage command shares for its output dataset: the ``--push-to-hub`` flags, where the
JSONL log and the dataset folder go, the provenance record, and the final write-and-push.

``--out`` names either a folder (the dataset folder, with the stage's JSONL log inside it) or a
``.jsonl`` file (the log, as before; the dataset folder is written beside it, ``OUT`` without
``.jsonl``). The log is what resuming reads; the folder is written from it when the stage ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from plum_exec.cards import StageCard, command_line, redact_rows, render
from plum_exec.datasets_io import clear_dataset_folder, resolve, write_dataset_folder
from plum_exec.hub import (
    PushResult,
    PushTarget,
    check_push_target,
    model_revision,
    print_push,
    push_folder,
)
from plum_exec.versions import PLUM_DISTRIBUTIONS, installed_versions

F = TypeVar("F", bound=Callable[..., Any])


def hub_options(command: F) -> F:
    """``--push-to-hub REPO_ID``, ``--private``, ``--hub-branch``."""
    for decorator in reversed([
        click.option("--push-to-hub", "push_to_hub", metavar="REPO_ID",
                     help="when the stage ends, upload its dataset folder to this Hub dataset repo, in one commit"),
        click.option("--private", is_flag=True, default=False, help="create the Hub repo private"),
        click.option("--hub-branch", metavar="BRANCH", help="push to this branch of the repo (created if missing)"),
    ]):  # fmt: skip
        command = decorator(command)
    return command


def push_target(params: Mapping[str, Any]) -> PushTarget | None:
    """The push the flags ask for, checked now (token, namespace) so a stage never works for nothing."""
    if not params.get("push_to_hub"):
        if params.get("private") or params.get("hub_branch"):
            raise click.UsageError("--private and --hub-branch go with --push-to-hub")
        return None
    target = PushTarget(params["push_to_hub"], bool(params.get("private")), params.get("hub_branch"))
    check_push_target(target)
    return target


def stage_paths(out: str | Path, log_name: str) -> tuple[Path, Path]:
    """``(JSONL log, dataset folder)`` for ``--out``: a folder holds its log; a ``.jsonl`` has a folder beside it."""
    out = Path(out)
    if out.name.endswith((".jsonl", ".jsonl.gz")):
        return out, out.with_name(out.name.split(".jsonl")[0])
    return out / log_name, out


def start_stage(folder: Path) -> None:
    """Before the stage writes anything: no card or shards of an earlier run survive an interrupted rerun."""
    clear_dataset_folder(folder)


def provenance(stage: str, *, inputs: Mapping[str, str | Path | None] = (), models: Mapping[str, str | None] = (),
               **settings: Any) -> dict[str, Any]:  # fmt: skip
    """Everything needed to redo the stage: versions, command, pinned inputs, models, settings."""
    return {
        "stage": stage,
        "plum_version": installed_versions(PLUM_DISTRIBUTIONS),
        "command": command_line(),
        "inputs": {name: _input(str(spec)) for name, spec in dict(inputs).items() if spec is not None},
        "models": {name: model_revision(model) for name, model in dict(models).items() if model},
        **{name: _plain(value) for name, value in settings.items() if value is not None},
    }


def finish_stage(folder: Path, card: StageCard, target: PushTarget | None,
                 extra_files: Mapping[str, Any] | None = None) -> PushResult | None:  # fmt: skip
    """Write the dataset folder from the stage's rows (secrets removed); push it if asked; say where it went."""
    configs = [dataclasses.replace(c, rows=redact_rows(c.rows)) for c in card.configs]
    card = dataclasses.replace(card, configs=configs, repo_id=target.repo_id if target else card.repo_id)
    write_dataset_folder(folder, card.configs, render(card), extra_files)
    print(f"dataset folder: {folder} (load_dataset({str(folder)!r}))", flush=True)
    if target is None:
        return None
    result = push_folder(folder, target, stage=card.stage)
    print_push(result)
    return result


def _input(spec: str) -> dict[str, Any]:
    """A benchmark by name (its loader pins the data), any other input by what :func:`resolve` read."""
    from plum_exec.problems import BENCHMARKS

    return {"benchmark": spec} if spec in BENCHMARKS else resolve(spec).provenance()


def _plain(value: Any) -> Any:
    """Config dataclasses as dicts, for JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value
