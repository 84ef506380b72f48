"""Dataclass configs: YAML/JSON files, ``key=value`` overrides, saved as JSON next to every run.

Every config is a dataclass whose fields carry a ``help`` text in their metadata and whose
``__post_init__`` checks values. ``build_config`` layers: defaults < recipe < file < overrides.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from laserrec.errors import ConfigError

T = TypeVar("T")


def field(default: Any, help: str, **kwargs: Any) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field with a help text (shown by ``laserrec config MODEL``)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs
        )
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_range(config: Any, names: tuple[str, ...], low: float, high: float | None = None) -> None:
    """Each field in ``names`` lies in [low, high] (no upper bound when ``high`` is None)."""
    for name in names:
        value = getattr(config, name)
        if high is None:
            check(value >= low, f"{name} must be >= {low}, got {value}")
        else:
            check(low <= value <= high, f"{name} must be in [{low}, {high}], got {value}")


def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Turn a string from the command line (or a YAML scalar) into the field's declared type.

    Values of another kind are an error naming the key: a YAML ``true`` for a number, a list for a
    text, a number that is not finite (nan, inf)."""
    origin = typing.get_origin(typ)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, args[0], key)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ in (int, float):
        return _number(value, typ, key)
    if typ is str:
        if isinstance(value, (dict, list, tuple, set, bool)) or value is None:
            raise ConfigError(f"{key}: expected text, got {value!r}")
        return str(value)
    if origin in (list, tuple):
        (inner,) = typing.get_args(typ)[:1] or (str,)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list (or comma-separated text), got {value!r}")
        return [_coerce(v, inner, key) for v in value]
    return value


def _number(value: Any, typ: type, key: str) -> int | float:
    """An int or a finite float from a number or its text; bools, lists and the like are an error."""
    if isinstance(value, (bool, dict, list, tuple, set)) or value is None:
        raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}")
    try:
        if typ is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        number = typ(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}") from None
    if typ is float and not math.isfinite(number):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    return number


def from_dict(cls: type[T], values: dict[str, Any], source: str = "config") -> T:
    """Build ``cls`` from ``values``; unknown keys are an error naming the key and the source."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(names)}")
    return cls(**{k: _coerce(v, hints[k], f"{source}: {k}") for k, v in values.items()})


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["lr=1e-3", "--epochs=5"]`` -> ``{"lr": "1e-3", "epochs": "5"}``."""
    out = {}
    for item in items:
        key, sep, value = item.lstrip("-").partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        out[key.replace("-", "_")] = value
    return out


def load_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        values = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML/JSON: {e}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{p}: expected a mapping of key: value, got {type(values).__name__}")
    return values


def build_config(cls: type[T], *layers: tuple[str, dict[str, Any]]) -> T:
    """Merge ``(source, values)`` layers in order (later wins) and build ``cls``."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, values in layers:
        for k, v in values.items():
            merged[k] = v
            sources[k] = source
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in merged:
        if k not in names:
            raise ConfigError(f"{sources[k]}: unknown key {k!r} for {cls.__name__}; known: {sorted(names)}")
    return cls(**{k: _coerce(v, hints[k], f"{sources[k]}: {k}") for k, v in merged.items()})


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically (temp file + rename)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(obj if isinstance(obj, dict) else to_dict(obj), indent=2, default=str) + "\n")
    tmp.replace(p)


class Options:
    """Base of a dataclass of options several model configs share (``RepeatOptions``): ``describe`` lists
    them with the config's own fields, not as a config the model extends."""


def describe(cls: type) -> list[tuple[str, list[tuple[str, Any, str]]]]:
    """(section, [(name, default, help), ...]) for ``--help``-style listings: one section for the fields
    ``cls`` shares with the model config it extends (LaserPlusConfig: LaserConfig), one (" additions")
    for the fields it adds; options mixed in (``Options``) belong to the first."""
    base = next(
        (b for b in cls.__mro__[1:] if dataclasses.is_dataclass(b) and not issubclass(b, Options)), None
    )
    inherited = {f.name for f in dataclasses.fields(base)} if base is not None else set()
    own, added = [], []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        (added if inherited and f.name not in inherited else own).append(
            (f.name, default, f.metadata.get("help", ""))
        )
    return [("", own)] + ([(" additions (not in the paper)", added)] if added else [])
