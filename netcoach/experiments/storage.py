"""The study's Optuna objects: storage, samplers, pruners, the study itself, and the ask lock.

``prepare`` creates the study on first use and refuses to resume one whose space, base
config, seeds or monitor changed. ``ask_lock`` is held while a worker checks the budget,
asks and samples (a lock file next to the journal, an advisory lock on PostgreSQL), so
two workers never take the same grid point and the trial budget is never overshot.
MySQL and SQLite storages get no lock: there, up to ``workers - 1`` trials beyond
``--trials`` may start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import zlib

from netcoach.config import ConfigError, RunConfig, to_toml
from netcoach.experiments.spec import JOURNAL, StudySpec, validate
from netcoach.experiments.trial import monitor_direction


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
    check_folder(spec)
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


def check_folder(spec: StudySpec) -> None:
    """Refuse a study folder that holds something but no journal (not a study's folder).

    A folder holding only the journal's lock files is a study that another worker is
    creating at this moment: it holds ``ask_lock`` and has not yet written the journal.
    """
    folder = spec.folder
    if spec.storage is None and folder.is_dir() and not (folder / JOURNAL).exists():
        if any(not p.name.startswith(f"{JOURNAL}.") for p in folder.iterdir()):
            raise ConfigError(f"{folder} exists and holds no study journal; choose another "
                              "--study name or remove the folder")


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
