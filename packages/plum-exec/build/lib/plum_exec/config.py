"""One definition per config: a dataclass feeds CLI flags, YAML files and the Python API.

TRL gets this from ``HfArgumentParser``; we keep a small version here because importing
transformers just to parse flags would add seconds to every ``plum`` start. Every package's
commands build their click options here.
Field docs live in the dataclass's ``metadata={"help": ...}``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import click
import yaml

from plum_exec.errors import PlumError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def options(cls: type, *, skip: tuple[str, ...] = ()) -> Callable[[F], F]:
    """A decorator adding one click ``--flag`` per field of the dataclass ``cls``.

    Every flag defaults to None (an empty tuple for lists), so a flag that was not given keeps
    the value of the config it overrides (YAML file, dataclass default).
    """
    hints = typing.get_type_hints(cls)
    decorators = [
        _option(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init and f.name not in skip
    ]

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def _option(f: dataclasses.Field, hint: Any) -> Callable[[F], F]:
    flag = "--" + f.name.replace("_", "-")
    base, is_list = _base_type(hint)
    help_text = f.metadata.get("help", "")
    if base is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None, help=help_text)
    choices = f.metadata.get("choices") or _literal_values(hint)
    kind: Any = click.Choice(choices) if choices else (base if base in (int, float) else str)
    if is_list:
        help_text += " (repeat the flag for several)"
    return click.option(flag, f.name, type=kind, default=None, multiple=is_list, help=help_text)


def given(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``cls`` that were given on the command line (click's ``params``)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in params.items() if k in names and v is not None and v != ()}


def from_params(cls: type[T], params: dict[str, Any], base: T | None = None) -> T:
    """Build ``cls`` from the given flags, keeping ``base``'s values where a flag was not given."""
    current = dataclasses.asdict(base) if base is not None else {}  # type: ignore[call-overload]
    return build(cls, {**current, **given(cls, params)}, where="command line")


def from_file_and_params(
    cls: type[T], config_path: str | None, section: str, params: dict[str, Any]
) -> T:
    """``--config`` values (flat, or a run config's ``section``) overridden by the given flags."""
    values = load_yaml(config_path) if config_path else {}
    values = {**dict(values.get(section, values)), **given(cls, params)}
    where = f"{config_path} + command line" if config_path else "command line"
    return build(cls, values, where=where)


def build(cls: type[T], values: dict[str, Any], *, where: str) -> T:
    """Construct ``cls`` from a mapping; unknown keys and bad values raise PlumError naming ``where``."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise PlumError(f"{where}: unknown option(s) {', '.join(unknown)} for {cls.__name__}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise PlumError(f"{where}: {exc}") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a one-line error for missing files and syntax errors."""
    path = Path(path)
    if not path.is_file():
        raise PlumError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PlumError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PlumError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _literal_values(hint: Any) -> list[str] | None:
    """The values of a ``Literal[...]`` (also inside ``| None``), for click's choices."""
    if get_origin(hint) in (typing.Union, types.UnionType):
        return next(filter(None, (_literal_values(a) for a in get_args(hint))), None)
    return [str(v) for v in get_args(hint)] if get_origin(hint) is typing.Literal else None


def _base_type(hint: Any) -> tuple[type, bool]:
    """Reduce ``X | None`` and ``list[X]`` to ``(X, is_list)`` for a click option."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _base_type(inner[0])
    if origin in (list, tuple):
        return _base_type(get_args(hint)[0])[0], True
    if origin is typing.Literal:
        return type(get_args(hint)[0]), False
    return (hint if isinstance(hint, type) else str), False
