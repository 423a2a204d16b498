"""Which folders a job's dedicated uid must be able to read so Python can import modules.

When the sandbox runs as root, a job runs as a dedicated uid. If the interpreter or the installed
packages live under a folder other users cannot enter (``/root/.pyenv`` under a 0700 ``/root``),
that uid could not import anything not already loaded. The fix hides such a folder behind an
empty world-readable tmpfs and binds back, read-only, just the paths Python needs: the rest of
the private folder stays invisible to the job.
"""

from __future__ import annotations

import os
import stat
import sys


def interpreter_paths() -> list[str]:
    """Folders the worker's Python reads: prefixes and import paths (this package's included)."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates = {sys.base_prefix, sys.prefix, sys.exec_prefix, package_root, *sys.path}
    candidates.add(os.path.dirname(os.path.realpath(sys.executable)))
    return sorted(os.path.realpath(p) for p in candidates if p and os.path.isdir(p))


def blocked_ancestors(paths: list[str]) -> dict[str, list[str]]:
    """Map each top-most folder that others cannot enter to the needed paths below it."""
    blocked: dict[str, list[str]] = {}
    for path in paths:
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                blocked.setdefault(ancestor, [])
                if path not in blocked[ancestor]:
                    blocked[ancestor].append(path)
                break
    return blocked


def bubblewrap_exposure_args(blocked: dict[str, list[str]]) -> list[str]:
    """bwrap arguments that hide each blocked folder and bind back the needed paths."""
    args: list[str] = []
    for ancestor, needed in blocked.items():
        args += ["--perms", "0755", "--tmpfs", ancestor]
        made: set[str] = set()
        for path in needed:
            for folder in _between(ancestor, path):
                if folder not in made:  # bwrap would create these 0700
                    args += ["--perms", "0755", "--dir", folder]
                    made.add(folder)
            args += ["--ro-bind", path, path]
    return args


def _between(ancestor: str, path: str) -> list[str]:
    """Folders strictly between ``ancestor`` and ``path``, outermost first."""
    rest = path[len(ancestor):].strip("/").split("/")[:-1]
    return [ancestor + "/" + "/".join(rest[: i + 1]) for i in range(len(rest))]
