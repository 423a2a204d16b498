"""JSONL reading with precise errors, atomic writes, and append-only logs that resume.

Long jobs append one row per finished unit of work and flush it, so an interrupted run keeps
everything it finished; ``read_jsonl(..., tolerate_torn_tail=True)`` drops a last line cut off
mid-write by a crash, and the job redoes only that unit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from plum_exec.errors import PlumError

# A str may hold lone surrogates (a program's ``raise ValueError('\\udcff')``, a ``\\udcff``
# escape in an input row) that UTF-8 cannot encode. ``json.dumps(..., ensure_ascii=False)`` leaves
# them raw, and they occur only inside JSON strings, so the codec's backslashreplace writes each as
# the JSON escape ``\\udcff``: valid JSON that reads back as the same str, never a crash mid-run.
_ERRORS = "backslashreplace"


def read_jsonl(path: str | Path, *, tolerate_torn_tail: bool = False) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-empty line; raise PlumError naming ``file:line`` on bad rows."""
    for _, row in read_jsonl_numbered(path, tolerate_torn_tail=tolerate_torn_tail):
        yield row


def read_jsonl_numbered(path: str | Path, *, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Like :func:`read_jsonl`, with each row's 1-based line number (for ``file:line`` errors).

    A local dataset folder or a Hub dataset id (``plum_exec.datasets_io``) is read too, numbered
    by row, so every stage input accepts all three.
    """
    if not Path(path).is_file():
        from plum_exec.datasets_io import is_dataset_spec, iter_rows

        if not is_dataset_spec(str(path)):
            raise PlumError(f"{path}: no such file")
        for number, (_, row) in enumerate(iter_rows(str(path)), start=1):
            yield number, row
        return
    path = Path(path)
    opener = _open_maybe_gzip(path)
    with opener as fh:
        lines = fh.read().split("\n")
    last = len(lines)
    while last and not lines[last - 1].strip():
        last -= 1
    for lineno, line in enumerate(lines[:last], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and lineno == last:
                return
            raise PlumError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise PlumError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield lineno, row


def require(row: dict[str, Any], key: str, where: str, types: type | tuple[type, ...] = object) -> Any:
    """Return ``row[key]``, or raise PlumError naming ``where`` (``file:line``) if missing or mistyped."""
    if key not in row:
        raise PlumError(f"{where}: missing field '{key}'")
    value = row[key]
    if not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise PlumError(f"{where}: field '{key}' must be {names}, got {type(value).__name__}")
    return value


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it only if the block finishes.

    Readers never see half a file; the file gets the permissions a plain ``open`` would give.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write all rows atomically."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", errors=_ERRORS) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(path: str | Path, obj: Any) -> None:
    """Write one JSON document atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", errors=_ERRORS) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


class JsonlAppender:
    """Append rows to a results log, one flushed line per row.

    Opening an existing log first drops a torn last line (from a crash mid-write), so the file is
    always a sequence of whole rows.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8", errors=_ERRORS)  # noqa: SIM115 - closed in close()

    def write(self, row: dict[str, Any]) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_torn_tail(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(cut)


def _open_maybe_gzip(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - caller closes
