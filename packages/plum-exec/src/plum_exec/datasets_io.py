"""Datasets in and out of every stage: a JSONL file, a local dataset folder, or a Hub dataset.

Every option naming a dataset (``--problems``, ``--samples``, ``--results``, ``--data``) takes a
*dataset spec*::

    PATH.jsonl                    a JSONL file, as always
    FOLDER[:CONFIG[:SPLIT]]       a folder in the layout of a Hub dataset repo (``load_dataset(FOLDER)``)
    ORG/NAME[@REVISION][:CONFIG[:SPLIT]]   a Hub dataset, pinned to a branch, tag or commit sha

As in ``datasets.load_dataset``, a local path of the same name wins over a Hub id. The split
defaults to ``train``. A Hub revision is resolved to its commit sha once per process, so the
rows read and the sha a card records are the same commit.

Stage outputs are written as a folder in the layout of a Hub dataset repo: ``README.md`` (the
card, whose YAML ``configs:`` block names the files) and parquet shards under
``data/{config}/``. Columns whose values Arrow cannot hold as one type (test inputs of mixed
types, dicts with varying keys) are stored as JSON strings in a column named ``{name}_json``;
:func:`iter_rows` decodes them back, so a stage reads exactly the rows the previous one wrote.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl_numbered

DATA_DIR = "data"
PREFERENCE_CONFIGS = ("kto", "dpo")  # plum prefs' configs, read by plum train by method
SIDE_FILES = ("stats.json",)  # uploaded beside the card: plum train reads prefs' KTO weights from it
JSON_SUFFIX = "_json"
DEFAULT_SPLIT = "train"
ROW_BATCH = 5000  # rows converted to Python at a time when reading a dataset
SHARD_BYTES = 500 * 2**20  # the Hub's datasets-server also cuts parquet at about this size
_FILE_SUFFIXES = (".jsonl", ".json", ".gz", ".parquet", ".csv")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")  # org/name


@dataclass(frozen=True)
class DatasetSource:
    """Where a stage's input comes from, resolved (a Hub revision becomes its commit ``sha``)."""

    spec: str
    kind: Literal["jsonl", "folder", "hub"]
    location: str  # file or folder path, or Hub repo id
    config: str | None = None
    split: str = DEFAULT_SPLIT
    revision: str | None = None  # as the user gave it
    sha: str | None = None  # Hub commit read, or the sha256 of a local file

    @property
    def label(self) -> str:
        """How error messages name this source (``file``, ``org/name@sha:config``)."""
        name = self.location + (f"@{self.sha[:12]}" if self.kind == "hub" and self.sha else "")
        return name + (f":{self.config}" if self.config else "")

    def provenance(self) -> dict[str, Any]:
        """What a card records about this input: enough to read exactly these rows again."""
        if self.kind == "hub":
            return {"hub_id": self.location, "revision": self.revision or "main", "sha": self.sha,
                    "config": self.config, "split": self.split}  # fmt: skip
        record = {"path": self.location, "sha256": self.sha}
        return {**record, "config": self.config} if self.kind == "folder" else record


def is_dataset_spec(spec: str) -> bool:
    """Whether ``spec`` names a dataset folder or a Hub dataset (not a file, which may be missing)."""
    base = _parse(spec)[0]
    if Path(base).expanduser().is_dir():
        return True
    return bool(_HUB_ID.match(base)) and not base.endswith(_FILE_SUFFIXES) and not Path(base).exists()


def resolve(spec: str | Path, *, default_config: str | None = None) -> DatasetSource:
    """Parse and resolve a dataset spec; errors (no such file, unknown repo or revision) are one line.

    ``default_config`` is the config to read when the spec names none and the dataset has it
    (``plum train --method dpo`` reads config ``dpo`` of a preference dataset).
    """
    spec = str(spec)
    path = Path(spec).expanduser()
    if path.is_file():
        return DatasetSource(spec, "jsonl", str(path), sha=_file_sha256(path))
    base, revision, config, split = _parse(spec)
    local = Path(base).expanduser()
    if local.is_dir():
        if revision:
            raise PlumError(f"{spec}: a revision (@{revision}) needs a Hub dataset, not a local folder")
        config = config or _pick_config(_folder_configs(local), default_config, spec)
        return DatasetSource(spec, "folder", str(local), config, split or DEFAULT_SPLIT,
                             sha=_folder_sha256(local))  # fmt: skip
    if local.is_file():
        raise PlumError(f"{spec}: a config or split (':') goes with a dataset folder or Hub id, not a file")
    if not is_dataset_spec(spec):
        raise PlumError(f"{spec}: no such file or folder (and not a Hub dataset id org/name)")
    sha, configs = _hub_revision(base, revision)
    config = config or _pick_config(configs, default_config, spec)
    return DatasetSource(spec, "hub", base, config, split or DEFAULT_SPLIT, revision, sha)


def _parse(spec: str) -> tuple[str, str | None, str | None, str | None]:
    """``base[@revision][:config[:split]]`` -> its parts (empty parts are None)."""
    head, _, tail = spec.partition(":")
    config, _, split = tail.partition(":")
    base, _, revision = head.partition("@")
    return base, revision or None, config or None, split or None


def _pick_config(configs: Sequence[str], default_config: str | None, spec: str = "") -> str | None:
    if default_config and default_config in configs:
        return default_config
    if default_config in PREFERENCE_CONFIGS and set(configs) & set(PREFERENCE_CONFIGS):
        # A preference dataset without this config had no rows for it: reading the other
        # config instead would train DPO on KTO rows.
        raise PlumError(f"{spec}: has no config {default_config!r} (it has {', '.join(configs)}); "
                        "the stage that made it wrote no rows for it")  # fmt: skip
    return None  # load_dataset's own default (the only config, or the one marked default)


def _folder_configs(folder: Path) -> list[str]:
    from plum_exec.cards import read_card_metadata

    card = folder / "README.md"
    if not card.is_file():
        return []
    return [c.get("config_name", "default") for c in read_card_metadata(card.read_text("utf-8")).get("configs", [])]


@functools.cache
def _hub_revision(repo_id: str, revision: str | None) -> tuple[str, list[str]]:
    """The commit sha ``revision`` points to, and the configs the card at that commit declares.

    Cached: every reader in this process sees the same commit, even if the branch moves on.
    """
    from huggingface_hub import HfApi

    from plum_exec.hub import hub_errors

    with hub_errors(f"dataset {repo_id}" + (f"@{revision}" if revision else "")):
        info = HfApi().dataset_info(repo_id, revision=revision)
    card = getattr(info, "card_data", None)
    configs = [c.get("config_name", "default") for c in (card.to_dict().get("configs", []) if card else [])]
    if not info.sha:
        raise PlumError(f"dataset {repo_id}: the Hub answered without a commit sha")
    return info.sha, configs


def iter_rows(spec: str | Path, *, default_config: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` for every row of the dataset ``spec``; ``where`` is ``file:line`` or ``dataset:row``."""
    source = resolve(spec, default_config=default_config)
    if source.kind == "jsonl":
        for line, row in read_jsonl_numbered(source.location):
            yield f"{source.spec}:{line}", row
        return
    rows = (row for batch in _load(source).with_format("arrow").iter(batch_size=ROW_BATCH) for row in batch.to_pylist())
    for index, row in enumerate(rows, start=1):  # Arrow's to_pylist: ~20x faster than datasets' row dicts
        yield f"{source.label} row {index}", decode_row(row)


def _load(source: DatasetSource) -> Any:
    """The split through ``datasets.load_dataset`` (offline for a folder, the pinned sha for the Hub)."""
    import datasets

    datasets.utils.logging.disable_progress_bar()
    try:
        if source.kind == "hub":  # cached by commit sha: the pinned revision is what is read
            return datasets.load_dataset(source.location, source.config, split=source.split, revision=source.sha)
        # datasets caches a local folder by its name and its card's file patterns, not by its
        # contents: a second folder named like the first (every round's ``prefs/``) would read
        # the first one's rows, or fail to cast them. A folder is read into memory, uncached.
        with tempfile.TemporaryDirectory(prefix="plum-datasets-") as cache:
            return datasets.load_dataset(source.location, source.config, split=source.split,
                                         cache_dir=cache, keep_in_memory=True)  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        raise PlumError(f"{source.label}: cannot load split {source.split!r} ({_first_line(exc)})") from None


def dataset_file(spec: str | Path, name: str) -> Path | None:
    """A side file of a dataset (``stats.json`` beside prefs data): its local path, or None if absent."""
    source = resolve(spec)
    if source.kind != "hub":
        folder = Path(source.location)
        candidate = (folder if source.kind == "folder" else folder.parent) / name
        return candidate if candidate.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from plum_exec.hub import hub_errors

    with hub_errors(f"dataset {source.location}"):
        try:
            return Path(hf_hub_download(source.location, name, repo_type="dataset", revision=source.sha))
        except EntryNotFoundError:
            return None


# --- rows <-> Arrow ----------------------------------------------------------------------------


def decode_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the stage wrote it: ``x_json`` columns decoded to ``x``; nulls (absent fields) dropped."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if key.endswith(JSON_SUFFIX) and isinstance(value, str):
            out[key[: -len(JSON_SUFFIX)]] = json.loads(value)
        else:
            out[key] = value
    return out


def to_arrow(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> Any:
    """An Arrow table of ``rows``: a column that Arrow cannot hold exactly becomes ``{name}_json``.

    ``columns`` gives the column order and the columns of an empty table.
    """
    import pyarrow as pa

    names = list(dict.fromkeys([*columns, *(key for row in rows for key in row)]))
    arrays: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        native = _exact_array(values) if rows else pa.array([], pa.string())
        if native is not None:
            arrays[name] = native
        else:
            arrays[name + JSON_SUFFIX] = pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string()
            )
    return pa.table(arrays)


def _exact_array(values: list[Any]) -> Any:
    """``values`` as one Arrow array if it reads back unchanged (no added keys, no int->float), else None."""
    import pyarrow as pa

    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None
    if not _parquet_writable(array.type):  # e.g. empty lists everywhere: list<null> -> list<string>
        try:
            array = array.cast(_nulls_as_strings(array.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return array if _parquet_writable(array.type) and array.to_pylist() == values else None


def _nulls_as_strings(kind: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_null(kind):
        return pa.string()
    if pa.types.is_list(kind):
        return pa.list_(_nulls_as_strings(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([kind.field(i).with_type(_nulls_as_strings(kind.field(i).type)) for i in range(kind.num_fields)])
    return kind


def _parquet_writable(kind: Any) -> bool:
    """Parquet has no struct without fields (``{}`` everywhere) and no list of nulls only."""
    import pyarrow as pa

    if pa.types.is_null(kind):
        return False
    if pa.types.is_struct(kind):
        return kind.num_fields > 0 and all(_parquet_writable(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _parquet_writable(kind.value_type)
    return True


def write_shards(folder: Path, config: str, split: str, rows: Sequence[Mapping[str, Any]],
                 columns: Sequence[str] = ()) -> list[str]:  # fmt: skip
    """Write ``rows`` as ``data/{config}/{split}-0000i-of-0000N.parquet``; return the paths (relative)."""
    import pyarrow.parquet as pq

    table = to_arrow(rows, columns)
    count = max(1, math.ceil(table.nbytes / SHARD_BYTES))
    per_shard = math.ceil(table.num_rows / count) if table.num_rows else 0
    written = []
    for index in range(count):
        relative = f"{DATA_DIR}/{config}/{split}-{index:05d}-of-{count:05d}.parquet"
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(index * per_shard, per_shard) if count > 1 else table, target)
        written.append(relative)
    return written


@dataclass
class ConfigData:
    """One config of a stage's dataset: its rows (one split) and the columns it documents."""

    name: str
    rows: Sequence[Mapping[str, Any]]
    columns: Mapping[str, str]  # column -> what it holds (for the card)
    split: str = DEFAULT_SPLIT


def write_dataset_folder(folder: str | Path, configs: Sequence[ConfigData], card_text: str,
                         extra_files: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    """Write the Hub layout of a stage's output into ``folder``, replacing any earlier one.

    The shards are written to a temporary folder and swapped in whole, so the folder never holds
    a mix of an earlier run's shards and this run's (resume-then-push leaves one set of shards).
    Files other than ``README.md``, ``data/`` and ``extra_files`` (the stage's JSONL logs) are left alone.
    """
    folder = Path(folder)
    _check_ours(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{DATA_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / DATA_DIR).mkdir()
    for config in configs:
        if config.rows:  # datasets cannot load a parquet file without rows: an empty config is left out
            write_shards(staging, config.name, config.split, config.rows, list(config.columns))
    old = folder / f".{DATA_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (folder / DATA_DIR).exists():
        (folder / DATA_DIR).rename(old)
    (staging / DATA_DIR).rename(folder / DATA_DIR)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    for name, content in (extra_files or {}).items():
        text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False) + "\n"
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "README.md").write_text(card_text, encoding="utf-8")
    return folder


def clear_dataset_folder(folder: str | Path) -> None:
    """Remove a stage's published layout (card, shards) before the stage reruns: until it ends, no
    ``load_dataset(folder)`` can read a dataset that no longer matches the logs."""
    folder = Path(folder)
    _check_ours(folder)
    shutil.rmtree(folder / DATA_DIR, ignore_errors=True)
    (folder / "README.md").unlink(missing_ok=True)


def _check_ours(folder: Path) -> None:
    """Never replace the card and data of a folder plum did not write (``--out data.jsonl`` beside a ``data/``)."""
    from plum_exec.cards import stage_of

    card = folder / "README.md"
    if card.is_file() and stage_of(card.read_text("utf-8")) is None:
        raise PlumError(f"{folder}: holds a README.md that plum did not write; use another --out")
    data = folder / DATA_DIR
    if not card.is_file() and data.is_dir() and any(p.suffix != ".parquet" for p in data.rglob("*") if p.is_file()):
        raise PlumError(f"{folder}: holds a {DATA_DIR}/ folder that plum did not write; use another --out")


def folder_files(folder: str | Path) -> list[str]:
    """The files of a dataset folder that belong on the Hub: the card, the shards, side files."""
    folder = Path(folder)
    files = ["README.md"] if (folder / "README.md").is_file() else []
    files += [name for name in SIDE_FILES if (folder / name).is_file()]
    files += sorted(p.relative_to(folder).as_posix() for p in (folder / DATA_DIR).rglob("*.parquet"))
    return files


def folder_configs(folder: str | Path) -> list[str]:
    """The configs a dataset folder holds (its ``data/{config}/`` folders)."""
    data = Path(folder) / DATA_DIR
    return sorted(p.name for p in data.iterdir() if p.is_dir()) if data.is_dir() else []


# --- hashes for provenance ------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_sha256(folder: Path) -> str:
    """One hash over the shards and card of a dataset folder (names and contents)."""
    digest = hashlib.sha256()
    for name in folder_files(folder):
        digest.update(name.encode() + b"\0" + _file_sha256(folder / name).encode())
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
