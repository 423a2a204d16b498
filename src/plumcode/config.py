"""One definition per config: a dataclass feeds CLI flags, YAML files and the Python API.

TRL gets this from ``HfArgumentParser``; we keep a small version here because importing
transformers just to parse flags would add seconds to every ``plum`` start.
Field docs live in the dataclass's ``metadata={"help": ...}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml

from plumcode.errors import PlumError

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per dataclass field (default None, so unset flags keep config values)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        flag = "--" + f.name.replace("_", "-")
        base, is_list = _base_type(hints[f.name])
        help_text = f.metadata.get("help", "")
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = base if base in (int, float) else str
            if is_list:
                kwargs["nargs"] = "+"
            choices = f.metadata.get("choices")
            if choices:
                kwargs["choices"] = choices
        parser.add_argument(flag, **kwargs)


def from_namespace(cls: type[T], ns: argparse.Namespace, base: T | None = None) -> T:
    """Build ``cls`` from parsed flags, keeping ``base``'s values where a flag was not given."""
    current = dataclasses.asdict(base) if base is not None else {}  # type: ignore[call-overload]
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = getattr(ns, f.name, None)
        if value is not None:
            current[f.name] = value
    return build(cls, current, where="command line")


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


def _base_type(hint: Any) -> tuple[type, bool]:
    """Reduce ``X | None`` and ``list[X]`` to ``(X, is_list)`` for argparse."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _base_type(inner[0])
    if origin in (list, tuple):
        return _base_type(get_args(hint)[0])[0], True
    if origin is typing.Literal:
        return type(get_args(hint)[0]), False
    return (hint if isinstance(hint, type) else str), False
