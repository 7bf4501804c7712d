"""A family's hyper-parameters: one frozen dataclass per family, overridable from a YAML file.

Defaults live in the dataclass (`ml/families/<name>/config.py`), with a comment on each field;
`config/families/<name>.yaml` holds only what a deployment changes. A key the dataclass does not
have, or a value of the wrong type, stops the run with the file and key named.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ml import settings

T = TypeVar("T")


class FamilyConfigError(ValueError):
    """config/families/<name>.yaml is invalid; the message names the file, the key and the problem."""


def load_config(family: str, cls: type[T], path: Path | None = None) -> T:
    """`cls()` with the overrides of `path` (default: config/families/<family>.yaml, if it exists)."""
    import yaml

    path = path or settings.family_config_path(family)
    if not path.exists():
        return cls()
    with path.open() as handle:
        overrides = yaml.safe_load(handle) or {}
    if not isinstance(overrides, dict):
        raise FamilyConfigError(f"{path}: expected a mapping of setting: value, got {type(overrides).__name__}")
    return with_overrides(cls(), overrides, where=str(path))


def with_overrides(config: T, overrides: dict[str, Any], where: str = "overrides") -> T:
    """A copy of `config` with `overrides` applied, each checked against the field's declared type."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise FamilyConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(type(config))
    return dataclasses.replace(config, **{key: _override(getattr(config, key), value, hints[key], f"{where}: {key}")
                                          for key, value in overrides.items()})


def _override(current: Any, value: Any, hint: Any, where: str) -> Any:
    """A section (a field that is itself a settings dataclass) takes a mapping of its own overrides."""
    if dataclasses.is_dataclass(current) and not isinstance(current, type):
        if not isinstance(value, dict):
            raise FamilyConfigError(f"{where}: expected a mapping of setting: value, got {value!r}")
        return with_overrides(current, value, where)
    return _coerce(value, hint, where)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(v, item, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        for option in typing.get_args(hint):
            if option is not type(None):
                try:
                    return _coerce(value, option, where)
                except FamilyConfigError:
                    continue
        raise FamilyConfigError(f"{where}: {value!r} is none of {hint}")
    if hint is Any or origin is not None:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise FamilyConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
