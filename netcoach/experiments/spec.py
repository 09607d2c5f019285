"""What defines a study, and the check of every option before anything is touched.

``StudySpec`` is plain data: the base config, the search space, the sampler and pruner
names, the budget and the storage. It travels to worker processes as ``to_dict()``
(``spec_from_dict`` reads it back). ``validate`` checks every option, the database
driver of an RDB URL included, before the study folder or any storage exists.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from netcoach.config import Config, ConfigError, from_dict, to_toml
from netcoach.experiments.space import SearchSpace, check_names, check_single_process, from_mapping
from netcoach.experiments.trial import monitor_direction

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "asha", "hyperband")
JOURNAL = "study.journal"
RDB_SCHEMES = ("postgresql", "mysql", "sqlite")


@dataclass(frozen=True)
class StudySpec:
    """Everything that defines a study and how a worker runs it.

    ``storage``: None for the journal file in the study folder, a file path for a journal
    elsewhere, or an RDB URL. ``trials``/``timeout``: the study's trial budget and each
    worker's wall-clock budget in seconds (the grid sampler stops by itself when its grid
    is done). ``grid_points``: values per range dimension of the grid sampler.
    """

    name: str
    base: Config
    space: SearchSpace
    sampler: str = "tpe"
    pruner: str = "none"
    trials: Optional[int] = None
    timeout: Optional[float] = None
    seeds: int = 1
    storage: Optional[str] = None
    sampler_seed: int = 0
    grid_points: int = 3
    retry_failed: bool = False
    heartbeat_s: float = 10.0

    @property
    def folder(self) -> Path:
        return Path(self.base.run.dir) / self.name

    @property
    def journal(self) -> Optional[Path]:
        """The journal file, or None for an RDB storage."""
        if self.storage is None:
            return self.folder / JOURNAL
        return None if "://" in self.storage else Path(self.storage)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready) for worker processes; ``spec_from_dict`` reads it back."""
        data = asdict(self)
        data["base"], data["space"] = to_toml(self.base), self.space.to_dict()
        return data


def spec_from_dict(data: dict) -> StudySpec:
    data = dict(data)
    base = from_dict(tomllib.loads(data.pop("base")))
    return StudySpec(base=base, space=from_mapping(data.pop("space"), base), **data)


def validate(spec: StudySpec, workers: int = 1) -> None:
    """Every option checked before the study folder or any storage is touched."""
    if spec.sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {spec.sampler!r} is not valid; choose one of: {', '.join(SAMPLERS)}")
    if spec.pruner not in PRUNERS:
        raise ConfigError(f"--pruner {spec.pruner!r} is not valid; choose one of: {', '.join(PRUNERS)}")
    if not spec.name or "/" in spec.name or spec.name.startswith("."):
        raise ConfigError(f"--study {spec.name!r}: expected a folder name (no '/', not hidden)")
    for flag, value in (("--trials", spec.trials), ("--seeds", spec.seeds), ("--workers", workers)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag}: expected a positive integer, got {value}")
    if spec.timeout is not None and not spec.timeout > 0:
        raise ConfigError(f"--timeout: expected a positive number of seconds, got {spec.timeout}")
    if spec.grid_points < 2:
        raise ConfigError(f"--grid-points: expected at least 2, got {spec.grid_points}")
    if spec.trials is None and spec.timeout is None and spec.sampler != "grid":
        raise ConfigError(f"--sampler {spec.sampler} needs a budget: give --trials N or --timeout SECONDS")
    if spec.storage and "://" in spec.storage:
        scheme = spec.storage.split("://", 1)[0].split("+", 1)[0]
        if scheme not in RDB_SCHEMES:
            raise ConfigError(f"--storage {spec.storage!r}: unknown URL scheme {scheme!r}; use a journal "
                              f"file path or one of: {', '.join(s + '://' for s in RDB_SCHEMES)}")
        if scheme == "sqlite" and workers > 1:
            raise ConfigError("--storage sqlite:// is not safe for concurrent writers; use the default "
                              "journal file or a postgresql:// URL with --workers > 1")
        _check_driver(spec.storage)
    monitor_direction(spec.base)
    check_names(spec.base)
    check_single_process(spec.base, "search")


def _check_driver(url: str) -> None:
    """The database driver of an RDB URL must be importable (SQLAlchemy picks it from the
    scheme: postgresql:// means psycopg 3 in SQLAlchemy 2.1, postgresql+psycopg2:// psycopg2)."""
    import sqlalchemy

    try:
        sqlalchemy.engine.make_url(url).get_dialect().import_dbapi()
    except (ImportError, sqlalchemy.exc.ArgumentError) as exc:
        raise ConfigError(f"--storage {url}: its database driver is not usable ({exc}); for "
                          "PostgreSQL install netcoach[postgres] (psycopg2) and write "
                          "postgresql+psycopg2://...") from None


def grid_size(spec: StudySpec) -> int:
    return math.prod(len(v) for v in spec.space.grid(spec.grid_points).values())
