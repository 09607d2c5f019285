"""The search space: which config keys a study varies, and over what.

A search-space file is TOML keyed by ``section.key``; each value is one distribution::

    "optim.lr"          = {log_uniform = [1e-4, 1e-1]}
    "model.dropout"     = {uniform = [0.0, 0.5]}
    "model.width"       = {int = [16, 128]}          # optional: step = 16
    "model.activation"  = {choice = ["relu", "tanh"]}

(``[optim]`` tables with ``lr = {...}`` mean the same.) The whole space is checked
before any trial runs: every key must be a config key, every bound and choice must be a
valid value of that key (and a registered name where the key names a component), ranges
must have low <= high, and a log range must stay above 0. Each problem is one
``ConfigError`` naming the file and the entry.

Sampling goes through Optuna's ``trial.suggest_*``; lists (``augment.transforms``) are
offered to Optuna as their JSON text, because its categorical values must be scalars.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from netcoach.config import Config, ConfigError, from_dict, option_keys


KINDS = ("log_uniform", "uniform", "int", "choice")
# Keys a study sets itself: where each trial's run folder goes, and its seeds (--seeds); and the
# process count, since a trial's runs train in the worker's own process (--workers parallelises).
RESERVED = ("run.name", "run.dir", "train.seed", "dist.nproc")


@dataclass(frozen=True)
class Dimension:
    """One searched config key: ``kind`` is one of ``KINDS``; ``values`` are the
    ``[low, high]`` bounds of a range or the list of choices."""

    key: str
    kind: str
    values: tuple
    step: int | None = None

    def suggest(self, trial) -> Any:
        """Draw this key's value for an Optuna trial."""
        if self.kind == "choice":
            if any(isinstance(v, list) for v in self.values):
                return json.loads(trial.suggest_categorical(self.key, [json.dumps(v) for v in self.values]))
            return trial.suggest_categorical(self.key, list(self.values))
        low, high = self.values
        if self.kind == "int":
            return trial.suggest_int(self.key, int(low), int(high), step=self.step or 1)
        return trial.suggest_float(self.key, float(low), float(high), log=self.kind == "log_uniform")

    def grid(self, points: int) -> list:
        """The values the grid sampler tries: every choice; ``points`` evenly spaced values
        of a range (log-spaced for log_uniform); every int of a range narrower than that."""
        if self.kind == "choice":
            return [json.dumps(v) if isinstance(v, list) else v for v in self.values]
        low, high = self.values
        if self.kind == "int":
            every = list(range(int(low), int(high) + 1, self.step or 1))
            if len(every) <= points:
                return every
            if points == 1:
                return [every[0]]
            return sorted({every[int(i * (len(every) - 1) / (points - 1) + 0.5)] for i in range(points)})
        if points == 1 or low == high:
            return [float(low)]
        if self.kind == "log_uniform":
            a, b = math.log(low), math.log(high)
            inner = [math.exp(a + (b - a) * i / (points - 1)) for i in range(1, points - 1)]
        else:
            inner = [low + (high - low) * i / (points - 1) for i in range(1, points - 1)]
        return [float(low)] + inner + [float(high)]  # the bounds exactly: inside the distribution

    def decode(self, value: Any) -> Any:
        """A value as Optuna stored it (JSON text for a list choice) back to the config value."""
        if self.kind == "choice" and isinstance(value, str) and any(isinstance(v, list) for v in self.values):
            return json.loads(value)
        return value

    def to_dict(self) -> dict:
        spec = {self.kind: list(self.values)}
        return {**spec, "step": self.step} if self.step else spec


@dataclass(frozen=True)
class SearchSpace:
    """The searched dimensions, in file order."""

    dimensions: tuple[Dimension, ...]

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    def suggest(self, trial) -> dict[str, Any]:
        """``{section.key: value}`` for one trial (the config values, lists decoded)."""
        return {d.key: d.suggest(trial) for d in self.dimensions}

    def grid(self, points: int) -> dict[str, list]:
        return {d.key: d.grid(points) for d in self.dimensions}

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna's stored params of a trial as config values."""
        by_key = {d.key: d for d in self.dimensions}
        return {k: by_key[k].decode(v) if k in by_key else v for k, v in params.items()}

    def to_dict(self) -> dict:
        """The space as plain data (JSON-ready; ``from_mapping`` reads it back)."""
        return {d.key: d.to_dict() for d in self.dimensions}


def apply_params(config: Config, params: Mapping[str, Any]) -> Config:
    """``config`` with the ``{section.key: value}`` values set (typed values, validated)."""
    nested: dict[str, dict[str, Any]] = {}
    for dotted, value in params.items():
        section, key = dotted.split(".", 1)
        nested.setdefault(section, {})[key] = value
    return from_dict(nested, config)


def load_space(path: str | Path, base: Config | None = None) -> SearchSpace:
    """Read and validate a search-space file against ``base`` (default ``Config()``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: search-space file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return from_mapping(data, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def from_mapping(data: Mapping[str, Any], base: Config | None = None) -> SearchSpace:
    """Validate ``{section.key: {kind: values}}`` (or nested ``{section: {key: ...}}``)."""
    base = base or Config()
    dims = tuple(_dimension(key, spec, base) for key, spec in _flatten(data).items())
    if not dims:
        raise ConfigError("the search space is empty; give at least one entry such as "
                          "\"optim.lr\" = {log_uniform = [1e-4, 1e-1]}")
    return SearchSpace(dims)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys down to the tables that name a distribution."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and not any(k in KINDS for k in value) and value:
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _dimension(key: str, spec: Any, base: Config) -> Dimension:
    entry = f"search space entry '{key}'"
    keys = option_keys()
    if key not in keys:
        section = key.split(".", 1)[0]
        valid = [k for k in keys if k.startswith(section + ".")] or sorted({k.split(".")[0] for k in keys})
        raise ConfigError(f"{entry}: unknown config key; valid: {', '.join(valid)}")
    if key in RESERVED:
        raise ConfigError(f"{entry}: {key} is set by the study itself (run folders, --seeds, one "
                          "process per run); remove it from the space")
    if not isinstance(spec, Mapping) or len([k for k in spec if k in KINDS]) != 1:
        raise ConfigError(f"{entry}: expected a table with exactly one of {', '.join(KINDS)} "
                          f"(e.g. {{log_uniform = [1e-4, 1e-1]}}), got {spec!r}")
    kind = next(k for k in spec if k in KINDS)
    extra = [k for k in spec if k != kind and not (kind == "int" and k == "step")]
    if extra:
        raise ConfigError(f"{entry}: unknown option {', '.join(extra)}"
                          + ("; int takes only step" if kind == "int" else f"; {kind} takes none"))
    values = spec[kind]
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{entry}: {kind} expects a non-empty list, got {values!r}")
    step = spec.get("step")
    if kind == "choice":
        for value in values:
            _check_value(key, value, base, entry)
        return Dimension(key, kind, tuple(values))
    return Dimension(key, kind, _check_range(key, kind, values, step, base, entry), step)


def _check_range(key, kind, values, step, base, entry) -> tuple:
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{entry}: {kind} expects [low, high] numbers, got {values!r}")
    low, high = values
    if kind == "int" and not all(isinstance(v, int) for v in values):
        raise ConfigError(f"{entry}: int expects integer bounds, got {values!r}; use uniform for floats")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 1):
        raise ConfigError(f"{entry}: step must be a positive integer, got {step!r}")
    if low > high:
        raise ConfigError(f"{entry}: low {low!r} > high {high!r}; write the range as [low, high]")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{entry}: log_uniform range [{low!r}, {high!r}] touches 0 (or goes below); "
                          "both bounds must be > 0 (use uniform to include 0)")
    for value in (float(low), float(high)) if kind != "int" else (low, high):
        _check_value(key, value, base, entry)
    return (low, high)


def _check_value(key: str, value: Any, base: Config, entry: str) -> None:
    """``value`` must be accepted by the config loader, and name a registered component
    where ``key`` is a registry name."""
    try:
        apply_params(base, {key: value})
        _check_registered(key, value)
    except ConfigError as exc:
        raise ConfigError(f"{entry}: {value!r} is not a valid value ({exc})") from None


def check_single_process(config: Config, command: str) -> None:
    """Runs made by ``search`` and ``repeat`` train in the calling process: a process count
    above one (which only ``netcoach train`` launches) would be ignored, so it is refused."""
    nproc = getattr(getattr(config, "dist", None), "nproc", 1)
    if nproc > 1:
        raise ConfigError(f"--dist.nproc {nproc}: {command} trains each run in one process; use "
                          "netcoach train for a multi-process run"
                          + (" (--workers runs trials in parallel)" if command == "search" else ""))


def check_names(config: Config) -> None:
    """Every registry name of ``config`` (model, activation, optimizer, schedule, dataset)
    is registered: a typo in the base config fails before a study is created."""
    for key in _registries():
        section, name = key.split(".", 1)
        try:
            _check_registered(key, getattr(getattr(config, section), name))
        except ConfigError as exc:
            raise ConfigError(f"--{key}: {exc}") from None


def _check_registered(key: str, value: Any) -> None:
    registry = _registries().get(key)
    if registry is not None and isinstance(value, str) and value not in registry:
        raise ConfigError(f"unknown {registry.kind} '{value}'; available: {', '.join(registry.names())}")


def _registries() -> dict:
    """Config keys whose value is a registry name (imported here: those modules import config)."""
    from netcoach.data.sources import datasets
    from netcoach.models.registry import models
    from netcoach.nn.activations import activations
    from netcoach.optim.optimizers import optimizers
    from netcoach.optim.schedules import schedules

    import netcoach.models  # noqa: F401  registers every model
    import netcoach.data  # noqa: F401  registers every dataset source

    return {"data.name": datasets, "model.name": models, "model.activation": activations,
            "optim.name": optimizers, "schedule.name": schedules}
