"""Load, override, validate and dump the config tree.

The dataclasses in ``schema`` are the single source of truth: every value that
enters (from TOML or from ``--section.key value`` on the command line) is checked
against the field's type and the bounds and choices its schema field declares
(``min``/``max`` inclusive, ``above``/``below`` exclusive, ``choices``; on a list
they apply to every item), and every error names the offending key and lists the
valid ones. ``validate`` runs the same checks over a whole ``Config`` built in Python.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import operator
import tomllib
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

from netcoach.config.errors import ConfigError
from netcoach.config.legacy import hint, upgrade_saved
from netcoach.config.schema import Config


# ----------------------------------------------------------------------------- types


def field_types(cls) -> dict[str, Any]:
    """Resolved type of each field of a config dataclass (annotations are strings)."""
    return dict(_type_hints(cls))


@functools.lru_cache(maxsize=None)
def _type_hints(cls) -> dict[str, Any]:
    """``typing.get_type_hints`` once per class: it evaluates every annotation string,
    and building the command line asks ~500 times (0.1 s of every run, measured)."""
    return typing.get_type_hints(cls)


def _describe(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return f"{_describe(inner[0])} or none"
    if origin in (list, Sequence):
        return f"list of {_describe(args[0])}"
    return getattr(tp, "__name__", str(tp))


BOUNDS = (("min", ">=", operator.ge), ("max", "<=", operator.le),
          ("above", ">", operator.gt), ("below", "<", operator.lt))


def describe_bounds(meta: Mapping[str, Any]) -> str:
    """``">= 1 and <= 16384"`` for a field's declared bounds ("" when it has none)."""
    def text(bound):
        return f"{bound:g}" if isinstance(bound, float) else str(bound)

    return " and ".join(f"{sign} {text(meta[name])}" for name, sign, _ in BOUNDS if name in meta)


def _check_bounds(value: Any, key: str, meta: Mapping[str, Any]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    for name, _, ok in BOUNDS:
        if name in meta and not ok(value, meta[name]):
            why = f"; {meta['bounds_why']}" if "bounds_why" in meta else ""
            raise ConfigError(f"{key}: must be {describe_bounds(meta)}, got {value!r}{why}")


def _coerce(value: Any, tp, key: str, choices=None, meta: Mapping[str, Any] | None = None) -> Any:
    """Check ``value`` against ``tp`` (int widens to float), the field's bounds and
    ``choices``; return the typed value."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:  # Optional[T]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, key, choices, meta)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]", choices, meta) for i, v in enumerate(value)]
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
    if tp is float:
        value = float(value)
    _check_bounds(value, key, meta or {})
    if tp is str and meta and meta.get("plain_name") and value != _plain(value):
        raise ConfigError(f"{key}: {value!r} must be a plain folder name (no '/', '\\', '..' or "
                          f"leading '.'), so the run stays inside run.dir")
    if choices and value not in choices:
        valid = ", ".join(map(str, choices))
        if key.endswith("]"):  # an item of a list: any subset of the names is allowed
            raise ConfigError(f"{key}: unknown {value!r}; valid: {valid}")
        raise ConfigError(f"{key}: {value!r} is not valid; choose one of: {valid}{hint(key, value)}")
    return value


def _plain(name: str) -> str:
    """``name`` when it is one plain path component, else "" (never equal to a real name)."""
    ok = name and "/" not in name and "\\" not in name and not name.startswith(".") and "\0" not in name
    return name if ok else ""


def parse_cli_value(text: str, tp, key: str, choices=None) -> Any:
    """Turn a command-line string into a value of type ``tp``.

    Scalars are read literally ("0.1", "true", "none"); lists as comma-separated
    items or a TOML/JSON list ("0.9,0.999" or "[0.9, 0.999]").
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        if text.strip().lower() in ("none", "null", ""):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return parse_cli_value(text, inner, key, choices)
    if origin is list:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                items = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{key}: cannot read {text!r} as a list ({exc})") from None
            return _coerce(items, tp, key)
        parts = [p.strip() for p in stripped.split(",") if p.strip()]
        return [parse_cli_value(p, args[0], f"{key}[{i}]") for i, p in enumerate(parts)]
    if tp is bool:
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {text!r}")
    if tp is int:
        try:
            return _coerce(int(text), tp, key, choices)
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {text!r}") from None
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {text!r}") from None
        if math.isnan(value):
            raise ConfigError(f"{key}: expected a number, got {text!r}")
        return _coerce(value, tp, key, choices)
    return _coerce(text, tp, key, choices)


# ------------------------------------------------------------------------ building


def _section_classes(root=Config) -> dict[str, type]:
    return {f.name: field_types(root)[f.name] for f in dataclasses.fields(root)}


def _unknown(kind: str, key: str, valid: Sequence[str]) -> ConfigError:
    return ConfigError(f"unknown {kind} '{key}'; valid: {', '.join(valid)}")


def from_dict(data: Mapping[str, Any], base: Config | None = None) -> Config:
    """Build a validated Config from nested ``{section: {key: value}}`` data over ``base``."""
    base = base or Config()
    sections = _section_classes()
    updates = {}
    for section, values in data.items():
        if section not in sections:
            raise _unknown("config section", section, list(sections))
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}] must be a table of keys, got {values!r}")
        cls = sections[section]
        types = field_types(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        changes = {}
        for key, value in values.items():
            if key not in fields:
                raise _unknown("key", f"{section}.{key}", [f"{section}.{k}" for k in fields])
            changes[key] = _coerce(value, types[key], f"{section}.{key}",
                                   fields[key].metadata.get("choices"), fields[key].metadata)
        try:
            updates[section] = dataclasses.replace(getattr(base, section), **changes)
        except (TypeError, ValueError) as exc:  # a section's own cross-field check
            raise exc if isinstance(exc, ConfigError) else ConfigError(f"[{section}]: {exc}") from None
    return dataclasses.replace(base, **updates)


def validate(config: Config) -> Config:
    """Check every value of ``config`` (also one built in Python, not loaded) against its
    field's type, bounds and choices; returns it unchanged or raises ConfigError."""
    for dotted, (tp, f) in option_keys().items():
        section, key = dotted.split(".", 1)
        _coerce(getattr(getattr(config, section), key), tp, dotted, f.metadata.get("choices"), f.metadata)
    return config


def load_toml(path: str | Path, base: Config | None = None, saved: bool = False) -> Config:
    """Read a TOML config file; unknown keys and wrong types raise ConfigError.

    ``saved``: the file is a run folder's record, so old spellings are read as what they
    meant (``config.legacy``); a config a user writes gets no such reading.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a TOML config file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file, so not a TOML config "
                          f"(byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return from_dict(upgrade_saved(data) if saved else data, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def option_keys(root=Config) -> dict[str, tuple[Any, dataclasses.Field]]:
    """Every ``section.key`` with its type and field, in schema order."""
    keys = {}
    for section, cls in _section_classes(root).items():
        types = field_types(cls)
        for f in dataclasses.fields(cls):
            keys[f"{section}.{f.name}"] = (types[f.name], f)
    return keys


def apply_overrides(config: Config, overrides: Mapping[str, str]) -> Config:
    """Apply ``{"section.key": "text"}`` overrides given as command-line strings."""
    keys = option_keys()
    nested: dict[str, dict[str, Any]] = {}
    for dotted, text in overrides.items():
        if dotted not in keys:
            section = dotted.split(".", 1)[0]
            valid = [k for k in keys if k.startswith(section + ".")] or list(keys)
            raise _unknown("option", f"--{dotted}", [f"--{k}" for k in valid])
        tp, f = keys[dotted]
        section, key = dotted.split(".", 1)
        nested.setdefault(section, {})[key] = parse_cli_value(text, tp, dotted, f.metadata.get("choices"))
    return from_dict(nested, config)


# ------------------------------------------------------------------------- dumping


def to_dict(config: Config) -> dict[str, dict[str, Any]]:
    """The config as plain nested dicts (JSON/TOML-ready)."""
    return dataclasses.asdict(config)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(config: Config) -> str:
    """TOML text that ``load_toml`` reads back to an equal Config.

    TOML has no null: a key whose value is None is written as a comment, and
    omitting it restores the default (None) on reload.
    """
    lines = []
    for section, values in to_dict(config).items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (none)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
