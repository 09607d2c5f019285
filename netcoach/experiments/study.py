"""A hyperparameter study on Optuna: storage, samplers, pruners and the worker loop.

The study lives in an Optuna storage: by default a journal file
``runs/<study>/study.journal`` (many processes, and machines sharing the folder, can
append to it), or an RDB URL such as ``postgresql+psycopg2://user@host/db`` for machines
without a shared filesystem. Every worker runs the same loop::

    lock -> fail trials of dead workers -> (re-enqueue failed ones) -> budget left? -> ask + sample
    unlock -> train the trial's seeds -> tell COMPLETE / PRUNED / FAIL

Asking and sampling happen under a lock (a lock file next to the journal, an advisory
lock on PostgreSQL), so two workers never take the same grid point and the trial budget
is never overshot. (MySQL and SQLite storages get no lock: there, up to
``workers - 1`` trials beyond ``--trials`` may start.) The
budget ``trials`` counts trials that finished (complete or pruned) or are running; a
failed trial does not use it up, so a killed worker's trial is replaced, or re-run with
the same parameters when ``retry_failed`` is set. Running the same study again resumes
it: the numbers of the trials already in the storage are never reused.

A worker is dead when it ran on this host and its process is gone, or when its trial's
heartbeat is older than ``STALE_BEATS`` intervals (other hosts). Optuna's own heartbeat
exists only for RDB storages and only inside ``study.optimize``; we keep one mechanism
for both storages, in the trial's user attributes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import time
import tomllib
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from netcoach.config import Config, ConfigError, RunConfig, from_dict, to_toml
from netcoach.experiments.space import SearchSpace, check_names, check_single_process, from_mapping
from netcoach.experiments.trial import (HOST, Heartbeat, TrialFailed, monitor_direction,
                                        seed_configs, train_trial)


SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "asha", "hyperband")
JOURNAL = "study.journal"
STALE_BEATS = 3  # heartbeats missed before another host's trial counts as dead
RDB_SCHEMES = ("postgresql", "mysql", "sqlite")
MAX_ATTEMPTS = 3  # runs of the same parameters with retry_failed (the first and two retries)


class WorkerError(RuntimeError):
    """A local worker process of a study exited with an error."""


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


# ------------------------------------------------------------------ optuna objects


def open_storage(spec: StudySpec):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = spec.journal
    if path is None:
        return optuna.storages.RDBStorage(spec.storage, engine_kwargs={"pool_pre_ping": True})
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), JournalFileOpenLock(str(path))))


def _grid_sampler_class():
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler, minus its ``study.stop()`` when the grid is done: that call
        only works inside ``study.optimize``, and our ask/tell loop ends through
        ``budget_left`` instead."""

        def after_trial(self, study, trial, state, values) -> None:
            return None

    return GridSampler


def _GridSampler(search_space, seed):
    return _grid_sampler_class()(search_space, seed=seed)


def build_sampler(spec: StudySpec, seed: int):
    import optuna

    if spec.sampler == "grid":
        # The seed shuffles the grid's order, and a grid id must mean the same point in
        # every worker: all of them use the study's seed.
        return _GridSampler(spec.space.grid(spec.grid_points), seed=spec.sampler_seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: a parallel worker treats running trials as bad, so it samples elsewhere
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def build_pruner(spec: StudySpec):
    import optuna

    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if spec.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3,
                                              max_resource=spec.base.train.epochs * spec.seeds)
    return optuna.pruners.NopPruner()


def fingerprint(spec: StudySpec) -> dict:
    """What must stay the same when a study is resumed or joined (all but where runs go)."""
    monitor, mode = monitor_direction(spec.base)
    where = dataclasses.replace(spec.base, run=RunConfig())  # each machine may write elsewhere
    return {"space": spec.space.to_dict(), "base_config": to_toml(where), "seeds": spec.seeds,
            "monitor": monitor, "mode": mode}


def load(spec: StudySpec):
    """The study in its storage, created on first use."""
    import optuna

    _, mode = monitor_direction(spec.base)
    return optuna.create_study(
        study_name=spec.name, storage=open_storage(spec), load_if_exists=True,
        direction="maximize" if mode == "max" else "minimize",
        sampler=build_sampler(spec, spec.sampler_seed),
        pruner=build_pruner(spec))


def prepare(spec: StudySpec, workers: int = 1):
    """Validate, then create or re-open the study; a resumed study must have the same
    space, base config, seeds and monitor. Returns the Optuna study."""
    validate(spec, workers)
    if spec.storage is None and spec.folder.is_dir() and not (spec.folder / JOURNAL).exists():
        if any(spec.folder.iterdir()):
            raise ConfigError(f"{spec.folder} exists and holds no study journal; choose another "
                              "--study name or remove the folder")
    if spec.journal is not None:
        spec.journal.parent.mkdir(parents=True, exist_ok=True)
    with ask_lock(spec):  # workers starting together: one creates the tables and the study
        study = load(spec)
        saved, mine = study.user_attrs.get("fingerprint"), fingerprint(spec)
        if saved is None:
            study.set_user_attr("fingerprint", mine)
            study.set_user_attr("sampler", spec.sampler)
    if saved is not None and saved != mine:
        changed = [k for k in mine if saved.get(k) != mine[k]]
        raise ConfigError(f"study {spec.name!r} already exists with a different {', '.join(changed)}; "
                          "resume it with the same config, space and --seeds, or choose another --study")
    return study


# ------------------------------------------------------------------ the worker loop


@contextlib.contextmanager
def ask_lock(spec: StudySpec):
    """A lock held while a worker checks the budget, asks and samples: a lock file next
    to a journal, a PostgreSQL advisory lock on a postgresql:// storage, none otherwise."""
    path = spec.journal
    if path is not None:
        from optuna.storages.journal import JournalFileOpenLock

        lock = JournalFileOpenLock(str(path) + ".ask")
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
    elif spec.storage.startswith("postgresql"):
        with _advisory_lock(spec.storage, zlib.crc32(spec.name.encode("utf-8"))):
            yield
    else:
        yield


@contextlib.contextmanager
def _advisory_lock(url: str, key: int):
    """PostgreSQL's session-level advisory lock on its own connection."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        engine.dispose()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(trial, now: float, heartbeat_s: float) -> bool:
    """Whether the worker running ``trial`` is gone (see the module docstring)."""
    worker = trial.user_attrs.get("worker")
    if worker is None:
        return False
    if worker.get("host") == HOST and not _pid_alive(int(worker["pid"])):
        return True
    return now - float(trial.user_attrs.get("heartbeat", worker["started"])) > STALE_BEATS * heartbeat_s


def fail_dead_trials(study, heartbeat_s: float) -> list[int]:
    """Mark RUNNING trials of dead workers FAIL; returns their numbers."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    now, failed = time.time(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_dead(t, now, heartbeat_s):
            try:
                study._storage.set_trial_user_attr(t._trial_id, "fail_reason", "its worker died")
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                failed.append(t.number)
            except UpdateFinishedTrialError:  # it finished meanwhile
                continue
    return failed


def enqueue_retries(study) -> list[int]:
    """Queue the parameters of each failed trial again (once per failure, at most
    ``MAX_ATTEMPTS`` runs of the same parameters); returns the failed trials' numbers."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    queued = []
    for t in trials:
        attempt = int(t.user_attrs.get("attempt", 1))
        if t.state == TrialState.FAIL and t.number not in retried and attempt < MAX_ATTEMPTS:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "attempt": attempt + 1},
                                skip_if_exists=False)
            queued.append(t.number)
    return queued


def budget_left(study, spec: StudySpec) -> bool:
    """Whether another trial may start (see the module docstring for what counts)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    active = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) for t in trials)
    limit = spec.trials
    if spec.sampler == "grid":
        size = grid_size(spec)
        limit = size if limit is None else min(limit, size)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        visited = {tuple(sorted(t.params.items())) for t in trials if t.state != TrialState.WAITING}
        if not waiting and len(visited) >= size:
            return False
    return limit is None or active < limit


def run_worker(spec: StudySpec, on_trial: Optional[Callable[[Any], None]] = None,
               progress: bool = False) -> list[int]:
    """Run trials until the budget is spent; returns the numbers of the trials it ran.

    Each trial is sampled by a sampler seeded from ``sampler_seed`` and the trial's number
    (made under the lock): the draws depend on the trial, not on which worker took it, so
    parallel workers never repeat each other's points and a one-worker study is
    reproducible.
    """
    study = load(spec)
    monitor, _ = monitor_direction(spec.base)
    started, done = time.monotonic(), []
    while spec.timeout is None or time.monotonic() - started < spec.timeout:
        with ask_lock(spec):
            fail_dead_trials(study, spec.heartbeat_s)
            if spec.retry_failed:
                enqueue_retries(study)
            if not budget_left(study, spec):
                break
            study.sampler = build_sampler(spec, trial_seed(spec, len(study.get_trials(deepcopy=False))))
            trial = study.ask()
            params = spec.space.suggest(trial)
        _run_one(study, trial, params, spec, monitor, progress)
        done.append(trial.number)
        if on_trial is not None:
            on_trial(study.trials[trial.number])
    return done


def trial_seed(spec: StudySpec, number: int) -> int:
    """The sampler seed of trial ``number`` (numpy seeds are 32-bit)."""
    return (spec.sampler_seed * 1_000_003 + number) % 2**32


def _run_one(study, trial, params: dict, spec: StudySpec, monitor: str, progress: bool) -> None:
    from optuna.trial import TrialState

    configs = seed_configs(spec.base, params, str(spec.folder), trial.number, spec.seeds)
    try:
        with Heartbeat(trial, spec.heartbeat_s):
            result = train_trial(trial, configs, monitor, progress)
    except BaseException as exc:  # the trial is marked failed, whatever stopped it
        trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
        study.tell(trial, state=TrialState.FAIL)
        if isinstance(exc, TrialFailed):
            return
        raise
    trial.set_user_attr("values", result.values)
    trial.set_user_attr("test", result.test)
    trial.set_user_attr("epochs", result.epochs)
    if result.pruned_at is not None:
        trial.set_user_attr("pruned_at", result.pruned_at)
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, sum(result.values) / len(result.values))


# ------------------------------------------------------------------ several processes


def _worker_process(data: dict) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_worker(spec_from_dict(data))


def run_study(spec: StudySpec, workers: int = 1, on_trial: Optional[Callable[[Any], None]] = None,
              progress: bool = False, poll_s: float = 1.0):
    """Prepare the study and run ``workers`` local worker processes on it (in this process
    when ``workers`` is 1). ``on_trial(frozen_trial)`` is called as trials finish.
    Returns the study.

    Raises:
        WorkerError: a worker process exited with an error (it printed its traceback).
    """
    study = prepare(spec, workers)
    if workers == 1:
        run_worker(spec, on_trial, progress)
        return study
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch threads
    data = spec.to_dict()
    procs = [ctx.Process(target=_worker_process, args=(data,), name=f"netcoach-worker-{i}")
             for i in range(workers)]
    for p in procs:
        p.start()
    seen: set[int] = set()
    while True:
        alive = any(p.is_alive() for p in procs)
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in seen:
                seen.add(t.number)
                if on_trial is not None:
                    on_trial(t)
        if not alive:
            break
        time.sleep(poll_s)
    codes = [p.exitcode for p in procs]
    if any(codes):
        raise WorkerError(f"worker processes exited with status {codes}; the study keeps every "
                           "finished trial, run the same command to resume it")
    return study

