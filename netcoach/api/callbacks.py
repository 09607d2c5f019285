"""The built-in callbacks of a run, in the order they must run, and the checks on the
metrics they monitor (made before any folder exists)."""

from __future__ import annotations

from typing import Optional

from netcoach import diagnose
from netcoach.config import Config, ConfigError
from netcoach.ensemble.snapshots import snapshot_savers
from netcoach.integrations.mlflow import MLflowLogger
from netcoach.train import BestCheckpoint, Callback, MetricsLogger, RunFolder, Trainer
from netcoach.train.averaging import build_averagers
from netcoach.train.builtin import Checkpointer, DiskSchedule, StepCheckpointer
from netcoach.train.early_stopping import EarlyStopping
from netcoach.train.loggers import CSVLogger, StepsLogger, TensorBoardLogger
from netcoach.train.monitor import early_stop_monitor


def check_monitors(config: Config, trainer: Trainer, monitors) -> None:
    """Each monitored metric must be one the epoch logs will hold (a typo otherwise fails
    after the first epoch, with the run folder written)."""
    known = {"lr", "epoch_time", "samples_per_s"} | {
        f"{split}_{m}{avg}" for split in ("train", "val") for m in ("loss", *trainer.task.metric_names)
        for avg in ("", "_ema", "_polyak", "_swa")}
    for option, name in monitors:
        if name is not None and name not in known:
            raise ConfigError(f"{option}: {name!r} is not a metric of this run; valid: "
                              f"{', '.join(sorted(k for k in known if k.startswith('val_')))} "
                              f"(or their train_ versions)")


def show_progress(progress: Optional[bool]) -> bool:
    """``progress``, or when None: whether the output is a terminal or a notebook."""
    if progress is not None:
        return progress
    from rich.console import Console  # imported where used: `import netcoach` stays cheap

    console = Console()
    return console.is_terminal or console.is_jupyter


def early_stopping(config: Config, default_monitor: str) -> Optional[EarlyStopping]:
    """Early stopping as configured (``early_stop.enabled``), or None."""
    es = config.early_stop
    if not es.enabled:
        return None
    return EarlyStopping(early_stop_monitor(config, default_monitor), patience=es.patience, min_epochs=es.min_epochs,
                         restore_best=es.restore_best)


def best_checkpoint(config: Config, monitor, run: Optional[RunFolder]) -> BestCheckpoint:
    """The best-weights tracker for ``monitor`` (a ``Monitor`` or a metric name), with the
    run's checkpoint writer (shared with the ``Checkpointer`` that ``default_callbacks``
    adds, so writes never overlap)."""
    ck = config.checkpoint
    writer = run.background_writer() if run is not None and ck.background else None
    return BestCheckpoint(monitor, run=run, disk=DiskSchedule(ck.min_interval_s, writer))


def default_callbacks(config: Config, trainer: Trainer, best: BestCheckpoint,
                      stopper: Optional[EarlyStopping],
                      run: Optional[RunFolder]) -> tuple[list[Callback], list[Callback]]:
    """The built-in callbacks: (those called before the user's, those called after).

    Averagers come first (they add ``*_ema``/``*_swa`` metrics that the best-weights
    tracker and the loggers see); the NaN guard's snapshot and the checkpoint come
    last, so they capture every other callback's state of the epoch.
    """
    first: list[Callback] = build_averagers(config, trainer.model, run) + [best]
    first += snapshot_savers(config, trainer, run)
    first += [stopper] if stopper is not None else []
    if run is not None:
        first.append(MetricsLogger(run))
        first += [StepsLogger(run)] if config.log.steps else []
        first += [CSVLogger(run)] if config.log.csv else []
        first += [TensorBoardLogger(run)] if config.log.tensorboard and run.writes else []
        first += [MLflowLogger(run.path, config)] if config.log.mlflow and run.writes else []
    first += diagnose.monitor_callbacks(config, run)
    first += trainer.transfer.callbacks() if trainer.transfer is not None else []
    tail: list[Callback] = [trainer.guard] if trainer.guard is not None else []
    if run is not None:
        ck = config.checkpoint
        disk = DiskSchedule(ck.min_interval_s, best.disk.writer)
        tail.append(StepCheckpointer(run, ck.every_epochs, ck.every_steps, disk) if ck.every_steps
                    else Checkpointer(run, ck.every_epochs, disk))
    return first, tail
