"""Second line of defence: secret values never reach a result, whatever a program printed.

The sandbox keeps the caller's secrets out of the program's reach; should one still get out
(a mechanism missing on this machine, a secret in a file we did not think of), the trusted pool
replaces the values of the caller's secret-looking variables (``*TOKEN*``, ``*KEY*``,
``*SECRET*``, ``*PASSWORD*``) and the Hub token file's content in every message, stdout, stderr
and returned value (strings and bytes at any depth, dict keys and set members included) before a
result leaves the sandbox, and the pieces of a secret that a length cut split. It also makes
every text storable: lone surrogates, which no UTF-8 file or Arrow column holds, become U+FFFD.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from plum_exec.sandbox.config import JobResult

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Shorter values ("1", "true", a port) would mangle ordinary output and are not secrets.
MIN_SECRET_CHARS = 8
# Where text was cut (the pool's "wrong output" cut, lcb_judge's "...(truncated)...", the
# output byte limit at the end), a secret may be split: a piece of it this long or longer on
# either side of the cut is redacted too. Shorter pieces cannot be told from ordinary text.
MIN_PIECE_CHARS = 4
CUT_MARK = "..."
# Lone surrogates (``raise ValueError('\\udcff')``): no UTF-8 file or Arrow column can hold them.
_SURROGATES = re.compile("[\ud800-\udfff]")


class Redactor:
    def __init__(self, secrets: Mapping[str, str]):
        """``secrets``: name -> value; each value is replaced by ``[redacted NAME]``."""
        self.names = {value: name for name, value in secrets.items() if len(value) >= MIN_SECRET_CHARS}
        ordered = sorted(self.names, key=len, reverse=True)  # a secret containing another wins
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self.byte_names = {value.encode(): name for value, name in self.names.items()}
        self.byte_pattern = re.compile(b"|".join(map(re.escape, sorted(self.byte_names, key=len, reverse=True)))) if ordered else None
        # Regular expressions, so that a text full of "..." is still scanned at C speed: the
        # longest first part of a secret before a cut, the longest last part after one.
        cut = re.escape(CUT_MARK)
        self._before_cut = re.compile("|".join(f"{_growing_prefix(v)}(?={cut}|\\Z)" for v in ordered))
        suffixes = sorted({v[-n:] for v in ordered for n in range(MIN_PIECE_CHARS, len(v))}, key=len, reverse=True)
        self._after_cut = re.compile(f"(?<={cut})(?:{'|'.join(map(re.escape, suffixes))})")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        environ = os.environ if environ is None else environ
        secrets = {name: value.strip() for name, value in environ.items() if SECRET_NAME.search(name)}
        secrets.update(_hub_tokens(environ))
        return cls(secrets)

    def text(self, text: str) -> str:
        """Secret values and their pieces at cuts replaced; lone surrogates become U+FFFD."""
        if not text:
            return text
        if not text.isascii():
            text = _SURROGATES.sub("\ufffd", text)
        if self.pattern is None:
            return text
        text = self.pattern.sub(lambda m: f"[redacted {self.names[m.group(0)]}]", text)
        return self._redact_pieces_at_cuts(text)

    def _redact_pieces_at_cuts(self, text: str) -> str:
        """A cut (a ``...``, or the end of the text) with a secret's first part before it or its
        last part after it: that part is redacted."""
        return self._after_cut.sub(self._piece_name, self._before_cut.sub(self._piece_name, text))

    def _piece_name(self, match: re.Match[str]) -> str:
        piece = match.group(0)
        name = next(n for v, n in self.names.items() if v.startswith(piece) or v.endswith(piece))
        return f"[redacted {name}]"

    def _bytes(self, data: bytes) -> bytes:
        if self.byte_pattern is None:
            return data
        return self.byte_pattern.sub(lambda m: f"[redacted {self.byte_names[m.group(0)]}]".encode(), data)

    def value(self, value: Any) -> Any:
        """Plain data (what io tests return) with every str and bytes in it redacted, dict keys
        and set members included, at any depth (no recursion: a program chooses the depth)."""
        if isinstance(value, list | tuple) and _TEXT_OR_CONTAINERS.isdisjoint(map(type, value)):
            return value  # numbers only, the common large case: checked at C speed
        return _map_leaves(value, self._leaf)

    def _leaf(self, leaf: Any) -> Any:
        if isinstance(leaf, str):
            return self.text(leaf)
        if isinstance(leaf, bytes):
            return self._bytes(leaf)
        return leaf

    def result(self, result: JobResult) -> JobResult:
        return replace(
            result,
            outcomes=[replace(o, message=self.text(o.message)) for o in result.outcomes],
            outputs=[self.value(o) for o in result.outputs],
            stdout=self.text(result.stdout),
            stderr=self.text(result.stderr),
        )


def _growing_prefix(value: str) -> str:
    """A pattern matching the longest of ``value``'s first parts, MIN_PIECE_CHARS characters and
    up (one nested group per further character: no alternative per length)."""
    pattern = ""
    for char in reversed(value[MIN_PIECE_CHARS:-1]):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    return re.escape(value[:MIN_PIECE_CHARS]) + pattern


_CONTAINERS = (list, tuple, set, frozenset, dict)
_TEXT_OR_CONTAINERS = frozenset({str, bytes, *_CONTAINERS})


def _map_leaves(root: Any, leaf: Callable[[Any], Any]) -> Any:
    """``root`` with ``leaf`` applied to every non-container inside it, containers rebuilt with
    their own type; an explicit stack instead of recursion. A dict's items are its keys and
    values in turn."""
    if not isinstance(root, _CONTAINERS):
        return leaf(root)
    # Each frame: the container, an iterator over its items, the items mapped so far.
    stack: list[tuple[Any, Iterator[Any], list[Any]]] = [(root, _items(root), [])]
    while True:
        container, items, done = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
            rebuilt = _rebuild(container, done)
            if not stack:
                return rebuilt
            stack[-1][2].append(rebuilt)
        elif isinstance(item, _CONTAINERS):
            stack.append((item, _items(item), []))
        else:
            done.append(leaf(item))


_END = object()


def _items(container: Any) -> Iterator[Any]:
    if isinstance(container, dict):
        return (x for pair in container.items() for x in pair)
    return iter(container)


def _rebuild(container: Any, items: list[Any]) -> Any:
    if isinstance(container, dict):
        return dict(zip(items[::2], items[1::2], strict=True))
    return type(container)(items)


def _hub_tokens(environ: Mapping[str, str]) -> dict[str, str]:
    """The Hugging Face token files (a secret that lives in a file, not a variable)."""
    home = environ.get("HOME", os.path.expanduser("~"))
    hf_home = environ.get("HF_HOME", os.path.join(environ.get("XDG_CACHE_HOME", os.path.join(home, ".cache")), "huggingface"))
    files = {environ.get("HF_TOKEN_PATH", ""), os.path.join(hf_home, "token"), os.path.join(home, ".cache", "huggingface", "token")}
    tokens = {}
    for path in sorted(p for p in files if p):
        try:
            with open(path) as fh:
                tokens[f"token file {path}"] = fh.read().strip()
        except (OSError, UnicodeDecodeError):
            continue
    return tokens
