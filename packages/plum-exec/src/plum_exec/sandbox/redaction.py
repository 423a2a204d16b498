"""Second line of defence: secret values never reach a result, whatever a program printed.

The sandbox keeps the caller's secrets out of the program's reach; should one still get out
(a mechanism missing on this machine, a secret in a file we did not think of), the trusted pool
replaces the values of the caller's secret-looking variables (``*TOKEN*``, ``*KEY*``,
``*SECRET*``, ``*PASSWORD*``) and the Hub token file's content in every message, stdout, stderr
and returned string before a result leaves the sandbox.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from plum_exec.sandbox.config import JobResult

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Shorter values ("1", "true", a port) would mangle ordinary output and are not secrets.
MIN_SECRET_CHARS = 8


class Redactor:
    def __init__(self, secrets: Mapping[str, str]):
        """``secrets``: name -> value; each value is replaced by ``[redacted NAME]``."""
        self.names = {value: name for name, value in secrets.items() if len(value) >= MIN_SECRET_CHARS}
        ordered = sorted(self.names, key=len, reverse=True)  # a secret containing another wins
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        environ = os.environ if environ is None else environ
        secrets = {name: value.strip() for name, value in environ.items() if SECRET_NAME.search(name)}
        secrets.update(_hub_tokens(environ))
        return cls(secrets)

    def text(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        text = self.pattern.sub(lambda m: f"[redacted {self.names[m.group(0)]}]", text)
        return self._cut_tail(text)

    def _cut_tail(self, text: str) -> str:
        """Captured output is cut at a byte limit: a secret cut there leaves its first part."""
        for value, name in self.names.items():
            for length in range(min(len(value) - 1, len(text)), MIN_SECRET_CHARS - 1, -1):
                if text.endswith(value[:length]):
                    return text[: len(text) - length] + f"[redacted {name}]"
        return text

    def value(self, value: Any) -> Any:
        """Strings inside plain data (what io tests return), redacted; anything else unchanged."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        return value

    def result(self, result: JobResult) -> JobResult:
        if self.pattern is None:
            return result
        return replace(
            result,
            outcomes=[replace(o, message=self.text(o.message)) for o in result.outcomes],
            outputs=[self.value(o) for o in result.outputs],
            stdout=self.text(result.stdout),
            stderr=self.text(result.stderr),
        )


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
