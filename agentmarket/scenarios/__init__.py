"""Scenario files: TOML documents that mirror :class:`agentmarket.params.Params`.

A scenario may start from another with ``extends = "NAME"`` and change only what differs.
``--set dotted.key=value`` overrides apply after the file. Every failure raises
:class:`~agentmarket.errors.InputError` with one line naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from agentmarket.errors import InputError
from agentmarket.params import MONTH_PATTERN, OPTIONAL_MONTH_PATTERN, Params

SCENARIO_DIR = Path(__file__).parent
MAX_EXTENDS_DEPTH = 10


def bundled_scenarios() -> dict[str, Path]:
    """Bundled scenario names and their files."""
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}


def list_scenarios() -> list[tuple[str, str]]:
    """Each bundled scenario's name and the question it answers."""
    rows = []
    for name, path in bundled_scenarios().items():
        raw = read_toml(path)
        rows.append((name, " ".join(str(raw.get("description", "")).split())))
    return rows


def read_toml(path: str | Path, what: str = "scenario file") -> dict[str, Any]:
    """A TOML file as a dictionary; a missing, unreadable or malformed file is one-line :class:`InputError`."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise InputError(f"{what} {str(path)!r} is not a regular file ({_file_kind(path)}); give a .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {str(path)!r} cannot be read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{what} {str(path)!r} is not valid TOML: {exc}") from None


def _file_kind(path: Path) -> str:
    """What a path that is not a regular file is, in a word or two, for error messages."""
    if path.is_dir():
        return "a folder"
    if path.is_fifo():
        return "a named pipe"
    if path.is_socket():
        return "a socket"
    if path.is_char_device() or path.is_block_device():
        return "a device"
    return "not a plain file"


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    bundled = bundled_scenarios()
    if text in bundled:
        return bundled[text]
    path = Path(text)
    if path.suffix == ".toml" or path.exists() or "/" in text:
        if path.exists() and not path.is_file():
            raise InputError(f"scenario file {text!r} is not a regular file ({_file_kind(path)}); give a .toml file")
        if not path.is_file():
            raise InputError(
                f"scenario file {text!r} does not exist; give a bundled name ({', '.join(bundled)}) or a .toml path"
            )
        return path
    raise InputError(f"unknown scenario {text!r}; allowed: {', '.join(bundled)} or a path to a .toml file")


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it, tables merged key by key."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_raw(name_or_path: str | Path, _depth: int = 0) -> dict[str, Any]:
    """The scenario as a plain dictionary, with ``extends`` resolved."""
    if _depth > MAX_EXTENDS_DEPTH:
        raise InputError(f"scenario {str(name_or_path)!r}: 'extends' chain deeper than {MAX_EXTENDS_DEPTH}")
    path = _resolve(name_or_path)
    raw = read_toml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise InputError(f"scenario {str(path)!r}: 'extends' must be a scenario name or path (text)")
    if not Path(parent).is_absolute() and parent not in bundled_scenarios():
        parent = str(path.parent / parent)
    return deep_merge(load_raw(parent, _depth + 1), raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``dotted.key=value``; the value is read as TOML, else taken as text."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise InputError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. adoption.imitation=0.4")
    value = value.strip()
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.split("."), parsed


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def _check_path(keys: list[str], raw: dict[str, Any]) -> None:
    """Raise unless ``keys`` names a parameter of the schema (entity tables must exist)."""
    model: Any = Params
    node: Any = raw
    for depth, key in enumerate(keys):
        where = ".".join(keys[: depth + 1])
        if isinstance(model, type) and issubclass(model, BaseModel):
            if key not in model.model_fields:
                prefix = ".".join(keys[:depth]) or "top level"
                raise InputError(f"unknown key {where!r}; allowed at {prefix}: {', '.join(_allowed_keys(model))}")
            annotation = model.model_fields[key].annotation
            node = node.get(key, {}) if isinstance(node, dict) else {}
            model = ("dict", get_args(annotation)[1]) if get_origin(annotation) is dict else annotation
        elif isinstance(model, tuple):
            existing = sorted(node) if isinstance(node, dict) else []
            if key not in existing:
                raise InputError(f"unknown key {where!r}; allowed: {', '.join(existing) or 'none in this scenario'}")
            node = node[key]
            model = model[1]
        else:
            raise InputError(f"unknown key {where!r}: {'.'.join(keys[:depth])} is a single value, not a table")


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with each ``dotted.key=value`` set; unknown keys raise :class:`InputError`."""
    out = copy.deepcopy(raw)
    pairs = (
        [(k.split("."), v) for k, v in overrides.items()]
        if isinstance(overrides, Mapping)
        else [parse_override(o) for o in overrides]
    )
    for keys, value in pairs:
        _check_path(keys, out)
        node = out
        for depth, key in enumerate(keys[:-1]):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                table = ".".join(keys[: depth + 1])
                raise InputError(f"--set {'.'.join(keys)}: {table} is a table of parameters, but was set to {node!r}")
        node[keys[-1]] = value
    return out


def _format_validation_error(exc: ValidationError, origin: str) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "top level"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{origin}: unknown key {where!r}"
    got = err.get("input")
    ctx = err.get("ctx") or {}
    msg = err["msg"]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        field = _field_at(err["loc"])
        if field is not None:
            allowed = describe_range(field)
            msg = f"must be {'an' if allowed.startswith('integer') else 'a'} {allowed}"
    elif kind == "string_pattern_mismatch":
        field = _field_at(err["loc"])
        if field is not None:
            msg = f"must be {describe_range(field)}"
    elif kind == "enum" and "expected" in ctx:
        msg = f"must be one of {ctx['expected']}"
    elif kind.startswith("value_error"):
        msg = msg.removeprefix("Value error, ")
    detail = f" (got {got!r})" if not isinstance(got, dict | list) else ""
    return f"{origin}: {where}: {msg}{detail}"


def _field_at(loc: tuple[Any, ...]) -> Any:
    model: Any = Params
    field = None
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            field = model.model_fields[part]
            ann = field.annotation
            model = get_args(ann)[1] if get_origin(ann) is dict else ann
        elif isinstance(model, type) and issubclass(model, BaseModel):
            continue
        else:
            return None
    return field


def validate(raw: Mapping[str, Any], origin: str = "scenario") -> Params:
    """Typed parameters from a raw dictionary, or one-line :class:`InputError`."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise InputError(_format_validation_error(exc, origin)) from None


def load_scenario(name_or_path: str | Path = "baseline", overrides: Iterable[str] | Mapping[str, Any] = ()) -> Params:
    """Load a bundled scenario by name, or a TOML file by path, then apply ``--set`` overrides."""
    raw = load_raw(name_or_path)
    raw.setdefault("name", Path(str(name_or_path)).stem)
    return validate(apply_overrides(raw, overrides), origin=f"scenario {Path(str(name_or_path)).stem!r}")


def scenario_hash(params: Params) -> str:
    """A short digest of every parameter value: equal hashes mean equal inputs."""
    text = json.dumps(params.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ParamRow:
    """One parameter as listed by ``agentmarket params``: key, value, unit, allowed values, meaning."""

    key: str
    value: Any
    unit: str
    allowed: str
    description: str


def describe_range(field: Any) -> str:
    """The allowed values of a schema field, as text."""
    ann = field.annotation
    if isinstance(ann, type) and issubclass(ann, Enum):
        return " | ".join(m.value for m in ann)
    if ann is bool:
        return "true | false"
    lo = hi = None
    lo_open = hi_open = False
    for m in field.metadata:
        for attr, is_low, is_open in (
            ("ge", True, False),
            ("gt", True, True),
            ("le", False, False),
            ("lt", False, True),
        ):
            v = getattr(m, attr, None)
            if v is not None:
                if is_low:
                    lo, lo_open = v, is_open
                else:
                    hi, hi_open = v, is_open
        pattern = getattr(m, "pattern", None)
        if pattern == MONTH_PATTERN:
            return "a month YYYY-MM"
        if pattern == OPTIONAL_MONTH_PATTERN:
            return "a month YYYY-MM or empty"
    if lo is None and hi is None:
        return {str: "text", list[str]: "list of names", int: "integer", float: "number"}.get(ann, str(ann))
    kind = "integer" if ann is int else "number"
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f"{kind} in {left}{_fmt(lo)}, {_fmt(hi)}{right}"


def _fmt(v: Any) -> str:
    if v is None:
        return "inf"
    return f"{v:g}" if isinstance(v, float) else str(v)


def describe_params(params: Params) -> list[ParamRow]:
    """Every parameter of ``params`` with its value, unit, allowed range and description."""
    rows: list[ParamRow] = []

    def walk(obj: BaseModel, prefix: str) -> None:
        for name, field in type(obj).model_fields.items():
            value = getattr(obj, name)
            key = f"{prefix}{name}"
            if isinstance(value, BaseModel):
                walk(value, key + ".")
            elif isinstance(value, dict) and all(isinstance(v, BaseModel) for v in value.values()):
                for entity, sub in value.items():
                    walk(sub, f"{key}.{entity}.")
            else:
                extra = field.json_schema_extra or {}
                shown = value.value if isinstance(value, Enum) else value
                rows.append(
                    ParamRow(key, shown, str(extra.get("unit", "")), describe_range(field), field.description or "")
                )

    walk(params, "")
    return rows
