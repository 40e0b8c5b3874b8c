"""Typed configuration loaded from YAML, with ``key=value`` overrides.

Configs are plain dataclasses (one per concern, defined next to the code that uses it) nested
in :class:`aetrack.experiment.ExperimentConfig`. This module holds only the generic machinery:
building a dataclass from a mapping while rejecting unknown keys (the error names the nearest
valid key, :func:`unknown_keys_message`), applying dotted overrides, and turning a config back
into a plain dict for checkpoints.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from aetrack.errors import AetrackError

T = TypeVar("T")

# How alike a typo and a valid key must be for the key to be suggested (difflib's ratio:
# 2 x matching characters / total characters); "stpes" -> "steps" is 0.8, "lost_time" ->
# "lost_time_s" 0.9, "tagdim" -> "tag_dim" 0.92; "foo" -> "steps" is 0, "lr_rate" -> "lr" 0.44.
SUGGEST_CUTOFF = 0.6


def unknown_keys_message(unknown: Any, valid: Any, *, noun: str = "key") -> str:
    """``unknown key 'stpes' (did you mean 'steps'?)``: each unknown key (by repr: YAML keys may
    be numbers, null or text with line breaks) with the nearest valid one (difflib); the valid
    keys are listed only when some unknown key resembles none of them."""
    names = sorted(str(v) for v in valid)
    parts, unmatched = [], False
    for key in sorted(unknown, key=repr):
        near = difflib.get_close_matches(str(key), names, n=1, cutoff=SUGGEST_CUTOFF)
        parts.append(f"{key!r} (did you mean {near[0]!r}?)" if near else repr(key))
        unmatched |= not near
    text = f"unknown {noun}{'s' if len(unknown) > 1 else ''} {', '.join(parts)}"
    return text + (f"; valid {noun}s: {', '.join(names)}" if unmatched else "")


def renamed(cls: type, key: object) -> str | None:
    """What replaced ``key`` if it is an old key of dataclass ``cls`` (its ``RENAMED`` class
    attribute: old key -> the new key, its unit and how to convert), else None."""
    return getattr(cls, "RENAMED", {}).get(key) if isinstance(key, str) else None


def renamed_error(cls: type, key: object, *, where: str) -> AetrackError | None:
    """The one-line error for an old key of ``cls`` (see :func:`renamed`), or None."""
    new = renamed(cls, key)
    return None if new is None else AetrackError(f"{where}: {key} is no longer a setting; use {new}")


def from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise :class:`AetrackError` (an old,
    renamed key: naming the key that replaced it)."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise AetrackError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        err = renamed_error(cls, key, where=where)
        if err is not None:
            raise err
    unknown = set(data) - set(fields)
    if unknown:
        raise AetrackError(f"{where}: {unknown_keys_message(unknown, fields)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, where=f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise AetrackError(f"{where}: {err}") from None


def _coerce(hint: Any, value: Any, *, where: str) -> Any:
    """Convert a YAML value to the annotated type (nested dataclasses, tuples, numbers)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where=where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where=where) if len(args) == 1 else value
    if origin is dict:
        if not isinstance(value, dict):
            raise AetrackError(f"{where}: expected a mapping such as {{car: 2.0}}, got {value!r}")
        key_hint, value_hint = typing.get_args(hint) or (Any, Any)
        return {_coerce(key_hint, k, where=where): _coerce(value_hint, v, where=f"{where}.{k}")
                for k, v in value.items()}
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise AetrackError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        items = [_coerce(inner, v, where=where) for v in value]
        return tuple(items) if origin is tuple else items
    # YAML's true/false are not numbers here (Python's bool is an int: `steps: true` would be 1).
    if hint in (int, float) and isinstance(value, bool):
        raise AetrackError(f"{where}: expected {hint.__name__}, got {value!r}")
    if hint is float and isinstance(value, (int, float)):
        if not math.isfinite(value):  # .nan / .inf: no setting is meaningful at either
            raise AetrackError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint in (int, float, bool, str) and not isinstance(value, hint):
        raise AetrackError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a dataclass config (tuples become lists), e.g. for checkpoints."""
    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, raising :class:`AetrackError` for a missing or malformed file."""
    p = Path(path)
    if not p.is_file():
        raise AetrackError(f"config file not found: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as err:
        raise AetrackError(f"{p}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise AetrackError(f"{p}: not a YAML config (not UTF-8 text: byte {err.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise AetrackError(f"{p}: not valid YAML ({str(err).splitlines()[0]})") from None
    except (ValueError, OverflowError) as err:  # a date-like scalar that is no date, e.g. 2024-02-30
        raise AetrackError(f"{p}: not valid YAML ({err})") from None
    except RecursionError:  # thousands of nested brackets
        raise AetrackError(f"{p}: not valid YAML (nested too deeply)") from None
    if not isinstance(data, dict):
        raise AetrackError(f"{p}: expected a mapping at the top level")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (value parsed as YAML) to a nested dict copy."""
    out = _deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise AetrackError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        value = parse_override_value(raw)
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise AetrackError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return out


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def parse_override_value(raw: str) -> Any:
    """The value of a ``key=value`` override: YAML when it parses (numbers, lists, true/false),
    else the text itself."""
    try:
        return yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        return raw


def check_overrides(cls: type, overrides: list[str]) -> None:
    """Refuse an override that names no setting of dataclass ``cls``, or whose value has the
    wrong type, with an :class:`AetrackError` naming the override (not the file it amends)."""
    for item in overrides:
        if "=" not in item:
            raise AetrackError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node: Any = cls
        hint: Any = cls
        for i, part in enumerate(parts):
            section = ".".join(parts[:i]) or "the top level"
            if not dataclasses.is_dataclass(node):
                raise AetrackError(f"override {item!r}: {section} is a value, not a section")
            fields = sorted(f.name for f in dataclasses.fields(node))
            err = renamed_error(node, part, where=f"override {item!r}")
            if err is not None:
                raise err
            if part not in fields:
                raise AetrackError(f"override {item!r}: {unknown_keys_message([part], fields)}")
            hint = typing.get_type_hints(node)[part]
            node = _section_type(hint)
        _coerce(hint, parse_override_value(raw), where=f"override {item!r}")


def _section_type(hint: Any) -> Any:
    """The dataclass behind ``hint`` (``X`` for ``X | None``), else ``hint`` itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint
