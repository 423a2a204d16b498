"""Where a model or dataset named by the user comes from: a local path or a Hugging Face Hub id.

Every package resolves names here, so a mistyped path is the same one-line error everywhere
instead of a Hub lookup that fails with a message about repo ids.
"""

from __future__ import annotations

from pathlib import Path

from plum_exec.errors import PlumError


def looks_like_path(name: str) -> bool:
    """Whether ``name`` can only be a local path (a Hub id is ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).expanduser().exists()


def model_source(model: str) -> str:
    """A local model folder as a string, or a Hub id; a path that does not exist is a PlumError."""
    if not model:
        raise PlumError("no model given (--model PATH)")
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise PlumError(f"{model}: not a model folder (no config.json)")
        return str(path)
    if looks_like_path(model):
        raise PlumError(f"{model}: no such model folder")
    return model
