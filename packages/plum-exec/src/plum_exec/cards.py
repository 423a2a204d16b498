"""Dataset cards for stage outputs: YAML header, what the data is, columns, a sample row, how to
load it, the stage's statistics and its provenance; merged into a card already on the Hub.

A stage owns one section of the card body, between ``<!-- plum:STAGE -->`` and
``<!-- /plum:STAGE -->``; pushing again replaces that section and keeps everything else (other
stages' sections, text a person wrote, other configs in the YAML). Cards never carry secrets:
:func:`redact` removes tokens, API keys and credentials in URLs from every card and provenance record.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from plum_exec.datasets_io import ConfigData

HUB_URL = "https://huggingface.co"
_SECRET_ENV = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_SECRET_PATTERNS = [
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), "hf_***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), "sk-***"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),  # user:password@host
    (re.compile(r"(--[\w-]*(?:token|key|secret|password)[\w-]*[= ])\S+", re.IGNORECASE), r"\1***"),
]


def secret_values() -> list[str]:
    """Values of environment variables whose names say they are secrets (long enough to match safely)."""
    return sorted({v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8}, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` without secrets: known token shapes, credentials in URLs, flag values, secret env values."""
    for value in secret_values():
        text = text.replace(value, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows with every secret environment value removed from their strings (rows are published too)."""
    secrets = secret_values()
    if not secrets:
        return [dict(row) for row in rows]
    return [{key: _scrub(value, secrets) for key, value in row.items()} for row in rows]


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return value


def command_line() -> str:
    """The command this process runs, as the user typed it (secrets removed)."""
    import shlex

    prog = os.path.basename(sys.argv[0]) if sys.argv else "plum"
    return redact(shlex.join([prog, *sys.argv[1:]]))


@dataclass
class StageCard:
    """What a stage says about its dataset. ``trl`` maps a config to TRL's (format, type)."""

    stage: str
    title: str
    summary: str
    configs: Sequence[ConfigData]
    stats: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()
    trl: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    repo_id: str | None = None  # where it will be pushed (for the load_dataset snippet)


def render(card: StageCard) -> str:
    """The README.md of a stage's dataset folder."""
    return _join(metadata(card), section(card))


def metadata(card: StageCard) -> dict[str, Any]:
    sources = sorted({i["hub_id"] for i in card.provenance.get("inputs", {}).values() if i.get("hub_id")})
    rows = sum(len(c.rows) for c in card.configs)
    meta: dict[str, Any] = {
        "license": "other",
        "task_categories": ["text-generation"],
        "language": ["en"],
        "tags": list(dict.fromkeys(["plum", card.stage, "code", *card.tags])),
        "size_categories": [size_category(rows)],
        "configs": [
            {"config_name": c.name, "data_files": [{"split": c.split, "path": f"data/{c.name}/{c.split}-*.parquet"}]}
            for c in card.configs
            if c.rows  # no shards, no config (datasets cannot load an empty parquet file)
        ],
    }
    if len(meta["configs"]) > 1:
        meta["configs"][0]["default"] = True
    if sources:
        meta["source_datasets"] = sources
    return meta


# The Hub's ``size_categories`` values, each with its upper bound (its metadata check refuses others).
SIZE_CATEGORIES = (
    (10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
)


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` label for ``n`` rows."""
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>1T")


def section(card: StageCard) -> str:
    """The stage's part of the card body, between its markers."""
    repo = card.repo_id or "ORG/NAME"
    owned = ",".join(c.name for c in card.configs)
    parts = [f"<!-- plum:{card.stage} configs={owned} -->", f"# {card.title}", "", card.summary, ""]
    for config in card.configs:
        parts += _config_section(config, repo, card.trl.get(config.name))
    if card.stats:
        parts += ["## Statistics", "", "```json", json.dumps(card.stats, indent=2, ensure_ascii=False), "```", ""]
    parts += ["## Provenance", "",
              "Made by [plumcode](https://github.com/plumcode/plumcode) (PLUM, arXiv 2406.06887). "
              "Every input is pinned: a Hub dataset by the commit sha that was read, a local file by its sha256.",
              "", "```json", json.dumps(card.provenance, indent=2, ensure_ascii=False, default=str), "```", "",
              f"<!-- /plum:{card.stage} -->"]  # fmt: skip
    return redact("\n".join(parts)) + "\n"


def _config_section(config: ConfigData, repo: str, trl: tuple[str, str] | None) -> list[str]:
    name = f"`{config.name}`"
    lines = [f"## Config {name} ({len(config.rows)} rows, split `{config.split}`)", ""]
    if not config.rows:
        return lines + ["Empty in this run, so it is not part of the dataset (no shards, not in `configs`).", ""]
    if trl:
        lines += [f"TRL dataset format: **{trl[0]}**, type: **{trl[1]}** "
                  "(https://huggingface.co/docs/trl/dataset_formats).", ""]  # fmt: skip
    lines += ["| column | what it holds |", "| --- | --- |"]
    lines += [f"| `{column}` | {text} |" for column, text in config.columns.items()]
    lines += ["", "Columns whose values have no single Arrow type are stored as JSON text in `NAME_json`.", ""]
    lines += ["```python", "from datasets import load_dataset", "",
              f'ds = load_dataset("{repo}", "{config.name}", split="{config.split}")', "```", ""]  # fmt: skip
    if config.rows:
        sample = json.dumps(_shortened(config.rows[0]), indent=2, ensure_ascii=False, default=str)
        lines += ["A row (long strings shortened):", "", "```json", sample, "```", ""]
    return lines


def _shortened(value: Any, limit: int = 300) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"... [{len(value) - limit} more characters]"
    if isinstance(value, list):
        return [_shortened(v, limit) for v in value[:8]] + ([f"... {len(value) - 8} more"] if len(value) > 8 else [])
    if isinstance(value, dict):
        return {k: _shortened(v, limit) for k, v in value.items()}
    return value


# --- reading and merging cards -------------------------------------------------------------------


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """A card's YAML metadata and its body."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n?", text, re.DOTALL)
    if not match:
        return {}, text
    data = yaml.safe_load(match.group(1)) or {}
    return (data if isinstance(data, dict) else {}), text[match.end():]


def read_card_metadata(text: str) -> dict[str, Any]:
    return split_card(text)[0]


def owned_configs(card_text: str, stage: str) -> list[str]:
    """The configs a stage's section says it writes (also the empty ones, which have no shards)."""
    match = re.search(rf"<!-- plum:{re.escape(stage)} configs=([\w,.-]*) -->", card_text)
    return [name for name in match.group(1).split(",") if name] if match else []


def stage_of(card_text: str) -> str | None:
    """The stage whose section a card holds (``plum push`` reads it from the folder's card)."""
    match = re.search(r"<!-- plum:([\w-]+)[ >]", card_text)
    return match.group(1) if match else None


def merge(existing: str | None, ours: str, stage: str) -> str:
    """``ours`` merged into the card already in the repo: its other configs, tags and text survive."""
    if not existing:
        return ours
    old_meta, old_body = split_card(existing)
    new_meta, new_body = split_card(ours)
    owned = set(owned_configs(ours, stage))
    return _join(_merge_metadata(old_meta, new_meta, owned), _merge_body(old_body, new_body, stage))


def _merge_metadata(old: dict[str, Any], new: dict[str, Any], owned: set[str]) -> dict[str, Any]:
    merged = {**old, **new}
    ours = owned | {c["config_name"] for c in new.get("configs", [])}
    kept = [c for c in old.get("configs", []) if c.get("config_name", "default") not in ours]
    merged["configs"] = _one_default(kept + list(new.get("configs", [])))
    for key in ("tags", "source_datasets", "task_categories", "language"):
        if key in old or key in new:
            merged[key] = list(dict.fromkeys([*old.get(key, []), *new.get(key, [])]))
    return merged


def _one_default(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Configs with one ``default`` (the first marked one, else the first) when there are several,
    none when there is one: the Hub refuses two, and ``load_dataset(repo)`` needs one of several."""
    configs = [dict(c) for c in configs]
    marked = next((c for c in configs if c.get("default")), configs[0] if configs else None)
    for config in configs:
        config.pop("default", None)
    if len(configs) > 1 and marked is not None:
        marked["default"] = True
    return configs


def _merge_body(old: str, new: str, stage: str) -> str:
    marked = re.compile(rf"<!-- plum:{re.escape(stage)}[ >].*?<!-- /plum:{re.escape(stage)} -->\n?", re.DOTALL)
    ours = marked.search(new)
    section_text = ours.group(0) if ours else new
    if marked.search(old):
        return marked.sub(lambda _: section_text, old, count=1)
    return old.rstrip("\n") + ("\n\n" if old.strip() else "") + section_text


def _join(meta: Mapping[str, Any], body: str) -> str:
    header = yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n\n{body.lstrip()}"
