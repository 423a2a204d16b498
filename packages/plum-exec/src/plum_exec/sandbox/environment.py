"""The environment of workers and executed programs: built from nothing, never inherited.

The caller's environment holds API keys and tokens (``OPENAI_API_KEY``, ``HF_TOKEN``,
``WANDB_API_KEY``, ...). A worker is started with only the variables below, so neither the
worker's ``/proc/<pid>/environ`` nor anything a forked child inherits carries them; each child then
points ``HOME`` and the temporary folder at its own job folder.
"""

from __future__ import annotations

import os

# Passed through from the caller when set: search path, locale, and interpreter settings that
# change how Python itself starts or hashes (the harness needs nothing else).
PASSED = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONHOME", "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONIOENCODING")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
TEMPORARY_FOLDER_VARIABLES = ("HOME", "TMPDIR", "TMP", "TEMP")


def worker_environment(folder: str, pythonpath: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The complete environment a worker starts with (``folder``: the sandbox's own folder)."""
    environ = dict(os.environ) if environ is None else environ
    env = {name: environ[name] for name in PASSED if name in environ}
    env.update({name: value for name, value in environ.items() if name.startswith("LC_")})
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(dict.fromkeys(TEMPORARY_FOLDER_VARIABLES, folder))
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=pythonpath)
    return env


def enter_job_folder(jobdir: str) -> None:
    """In the forked child: the job folder is the program's home and temporary folder."""
    for name in TEMPORARY_FOLDER_VARIABLES:
        os.environ[name] = jobdir
    os.environ["PWD"] = jobdir
