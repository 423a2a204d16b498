"""The loop's ``hub:`` section: each finished stage's dataset goes to the Hub, named by round.

Publishing follows the stages, never leads them: a stage's dataset is pushed after its marker
says it is done with the current settings, and ``RUN/hub.json`` records what was pushed (repo,
commit, the stage's fingerprint). A resumed run pushes what an interrupted one had not, and
pushes again a stage that was redone with other settings; a push that fails stops the run with
the command that retries it, and the local files stay as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plum_exec.hub import PushTarget, check_push_target
from plumcode.loop.config import HubConfig, RunConfig
from plumcode.loop.folder import RunFolder, Stage

RECORD_FILE = "hub.json"


@dataclass(frozen=True)
class HubNames:
    """The repo ids of a run: ``NAMESPACE/NAME-tests``, ``NAMESPACE/NAME-rRR-{samples,results,prefs,policy}``."""

    namespace: str
    name: str

    def repo(self, what: str, round_: int | None = None) -> str:
        middle = f"-r{round_:02d}" if round_ is not None else ""
        return f"{self.namespace}/{self.name}{middle}-{what}"


def hub_names(config: HubConfig, folder: RunFolder) -> HubNames:
    return HubNames(config.namespace, config.name or Path(folder.root).resolve().name)


def model_target(config: RunConfig, folder: RunFolder, round_: int) -> PushTarget | None:
    """Where round r's trained model goes, if the run pushes models (through the trainer's push)."""
    if config.hub is None or not config.hub.model:
        return None
    return PushTarget(hub_names(config.hub, folder).repo("policy", round_), config.hub.private)


class RunPublisher:
    """Pushes the datasets of done stages that ``hub.stages`` names and ``hub.json`` lacks."""

    def __init__(self, config: RunConfig, folder: RunFolder, console: Any) -> None:
        self.config, self.folder, self.console = config, folder, console
        self.hub = config.hub
        self.names = hub_names(self.hub, folder) if self.hub else None

    def check(self) -> None:
        """Before any stage runs: the token works and may write to the namespace."""
        if self.names is not None:
            check_push_target(PushTarget(self.names.repo("check"), self.hub.private))

    def publish(self, stage: Stage, fingerprint: str) -> None:
        what = _dataset_kind(stage.key)
        if self.hub is None or what is None or what[0] not in self.hub.stages:
            return
        record = self._record()
        if record.get(stage.key, {}).get("fingerprint") == fingerprint:
            return
        kind, round_ = what
        target = PushTarget(self.names.repo(kind, round_), self.hub.private)
        folder, card = self._dataset(kind, round_, stage)
        from plum_exec.publish import finish_stage

        result = finish_stage(folder, card, target)
        record[stage.key] = {"repo_id": target.repo_id, "sha": result.sha if result else None,
                             "fingerprint": fingerprint}  # fmt: skip
        self.console.print(f"[bold]plum run[/] {stage.key}: published {target.repo_id}")
        from plum_exec.jsonl import write_json

        write_json(self.folder.root / RECORD_FILE, record)

    def _record(self) -> dict[str, Any]:
        return _read_record(self.folder)

    def _dataset(self, kind: str, round_: int | None, stage: Stage) -> tuple[Path, Any]:
        """The stage's dataset folder (beside its JSONL files) and its card."""
        builders: dict[str, Callable[[int | None, dict[str, Any]], tuple[Path, Any]]] = {
            "tests": self._tests, "samples": self._samples, "results": self._results, "prefs": self._prefs,
        }  # fmt: skip
        return builders[kind](round_, self._provenance(stage))

    def _provenance(self, stage: Stage) -> dict[str, Any]:
        from plum_exec.publish import provenance

        marker = json.loads(self.folder.marker(stage.key).read_text(encoding="utf-8"))
        inputs = {key: self._published(key) for key in stage.inputs}
        return {**provenance(stage.key), "run_stage_inputs": inputs, "settings": stage.settings,
                "stage_stats": marker.get("stats", {})}  # fmt: skip

    def _published(self, key: str) -> dict[str, Any]:
        """An input stage: its Hub repo and commit when pushed, else where it lies in the run folder."""
        pushed = self._record().get(key)
        return {"hub_id": pushed["repo_id"], "sha": pushed["sha"]} if pushed else {"run_stage": key}

    def _tests(self, _: int | None, record: dict[str, Any]) -> tuple[Path, Any]:
        from plum_data.testgen import output_paths
        from plum_data.testgen.pipeline import testgen_card

        tests = self.folder.tests
        stats_path = output_paths(tests)[2]
        stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.is_file() else {}
        return tests.with_suffix(""), testgen_card(tests, stats, record)

    def _samples(self, round_: int | None, record: dict[str, Any]) -> tuple[Path, Any]:
        from plum_data.sampling import samples_card
        from plum_exec.jsonl import read_jsonl
        from plum_exec.records import Sample

        log = self.folder.samples(round_ or 0)
        samples = {(r["task_id"], r["sample_id"]): Sample(**r) for r in read_jsonl(log)}
        return log.with_suffix(""), samples_card(list(samples.values()), record)

    def _results(self, round_: int | None, record: dict[str, Any]) -> tuple[Path, Any]:
        from plum_exec.jsonl import read_jsonl
        from plum_exec.results_dataset import results_card

        log = self.folder.results(round_ or 0)
        rows = {(r["task_id"], r["sample_id"]): r for r in read_jsonl(log)}  # the last row per sample wins
        return log.with_suffix(""), results_card(list(rows.values()), record["stage_stats"], record)

    def _prefs(self, round_: int | None, record: dict[str, Any]) -> tuple[Path, Any]:
        from plum_data.preferences import STATS_FILE, preferences_card

        folder = self.folder.prefs(round_ or 0)
        stats = json.loads((folder / STATS_FILE).read_text(encoding="utf-8"))
        return folder, preferences_card(folder, stats, record)


def _read_record(folder: RunFolder) -> dict[str, Any]:
    path = folder.root / RECORD_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def pushed_dataset(folder: RunFolder, key: str) -> str | None:
    """The Hub spec ``repo@sha`` of stage ``key``'s pushed dataset, or None if it was not pushed."""
    pushed = _read_record(folder).get(key) or {}
    return f"{pushed['repo_id']}@{pushed['sha']}" if pushed.get("sha") else None


def _dataset_kind(key: str) -> tuple[str, int | None] | None:
    """``tests`` -> (tests, None); ``round_02/sample`` -> (samples, 2); stages without a dataset -> None."""
    if key == "tests":
        return "tests", None
    round_part, _, stage = key.partition("/")
    kind = {"sample": "samples", "execute": "results", "prefs": "prefs"}.get(stage)
    return (kind, int(round_part[6:])) if kind and round_part.startswith("round_") else None
