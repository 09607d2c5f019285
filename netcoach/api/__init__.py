"""The Python API; it mirrors the CLI and is the composition root: ``train`` reads top
to bottom, and each piece it composes has its own module: ``build`` (``build_trainer``,
from ``data_setup``'s task and data and ``model_setup``'s model), ``callbacks`` (the
built-in callbacks and the checks on what they monitor), ``records`` (the run folder)
and ``summary`` (``summary.json``). The run-folder format stays with ``RunFolder``,
resuming with ``train.resume`` and the test evaluation with ``train.final``.

Example:
    >>> import netcoach
    >>> cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "3"})
    >>> result = netcoach.train(cfg, save=False)           # doctest: +SKIP
    >>> result.summary["test"]["test_acc"] > 0.9            # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from torch import nn

from netcoach import diagnose
from netcoach.api.build import build_trainer
from netcoach.api.callbacks import (best_checkpoint, check_monitors, default_callbacks, early_stopping,
                                    show_progress)
from netcoach.api.data_setup import data_record
from netcoach.api.model_setup import check_outputs
from netcoach.api.records import open_run, save_interrupted
from netcoach.api.summary import run_summary, was_cut
from netcoach.config import Config, ConfigError, load_toml
from netcoach.data import DataBundle
from netcoach.data.decode import reporting as decode_progress
from netcoach.distributed import reduce as dist_reduce
from netcoach.ensemble.snapshots import snapshot_plan
from netcoach.integrations.mlflow import finish_tracking
from netcoach.models.summary import model_summary
from netcoach.optim import build_optimizer
from netcoach.train import Callback, ProgressBar, RunFolder, Trainer
from netcoach.train.early_stopping import EarlyStopping
from netcoach.train.load import load_run
from netcoach.train.monitor import Monitor, plateau_monitor, resolve_monitor
from netcoach.train.resume import restore_run, resume_config, with_overrides
from netcoach.utils.runtime import Runtime

# ``build_optimizer`` and ``model_summary`` are re-exported: scripts build an optimizer
# or a summary the way a run does through this one module
__all__ = ["RunResult", "best_checkpoint", "build_optimizer", "build_trainer", "default_callbacks",
           "early_stopping", "load_config", "load_run", "model_summary", "resume_config",
           "show_progress", "train"]


@dataclass
class RunResult:
    """What ``train`` gives back: the trained model (best weights), its records and data."""

    config: Config
    model: nn.Module
    history: list[dict]
    summary: dict
    data: DataBundle
    run_dir: Optional[Path] = None
    trainer: Optional[Trainer] = field(default=None, repr=False)

    def _repr_html_(self) -> str:
        """Jupyter's rendering: summary table, learning curves and the doctor's verdict."""
        from netcoach.report.notebook import result_html  # imported where used: `import netcoach` stays cheap

        return result_html(self)

    def report(self) -> Path:
        """The run's report.html (built if missing); shown in the page inside a notebook."""
        if self.run_dir is None:
            raise ValueError("this run was trained with save=False: it has no run folder or report")
        from netcoach.report.notebook import show_report

        return show_report(self.run_dir)


def load_config(path: str | Path | None = None, overrides: Optional[Mapping[str, Any]] = None) -> Config:
    """Defaults, then a TOML file, then ``{"section.key": value}`` overrides (values
    may be strings as on the command line, or typed values)."""
    return with_overrides(load_toml(path) if path else Config(), overrides)


Reporter = Callable[[str, Any], None]  # (event, value): see ``train``'s ``reporter``


def train(config: Optional[Config] = None, *, model: Optional[nn.Module] = None, data=None,
          callbacks: Iterable[Callback] = (), progress: Optional[bool] = None, save: bool = True,
          resume: str | Path | None = None, runtime: Optional[Runtime] = None,
          reporter: Optional[Reporter] = None) -> RunResult:
    """Train as configured and evaluate the best checkpoint on the test split.

    Args:
        config: the run's config (default: ``Config()``; with ``resume``: the run's own,
            see ``resume_config``).
        model: your own module mapping a batch to (batch, outputs) scores (default: ``config.model``).
        data: a ``DataBundle``, an ``(x, y)`` pair of arrays, or a dict of explicit
            ``train``/``val``/``test`` pairs (default: ``config.data``); images may be NCHW
            or NHWC, uint8 or float in [0, 1] (see ``netcoach.data.from_arrays``).
        callbacks: extra callbacks, called after the built-in ones.
        progress: show progress bars and a line per epoch; None (default) shows them when
            the output is a terminal or a notebook, as Keras's ``fit`` does.
        save: write a run folder under ``config.run.dir``.
        resume: a run folder to continue from its last checkpoint (also mid-epoch); pass
            the same ``model``/``data`` the run was started with, if any.
        runtime: this process's device and rank (default: one process on ``train.device``);
            a process that is not the main one trains but writes no files. Every process
            of a multi-process job calls ``train`` (see ``netcoach.distributed``); the
            preflight checks run once, on the main process.
        reporter: told what happens before epoch 1, as ``reporter(event, value)``:
            ``("stage", text)`` before each slow step, ``("decode", {"done", "total"})`` as
            image files are decoded (after each chunk of images), ``("preflight", checks)``
            with the check records, ``("resume", {"epoch", "step", "batches_done",
            "batches"})`` where a resumed run continues.
            The command line prints these; the library itself never does.

    Raises:
        PreflightFailed: with ``diagnose.strict``, a preflight check FAILed; raised before
            any run folder or checkpoint is written.
    """
    started = time.perf_counter()
    config = resume_config(resume, config) if resume is not None else (config or Config())
    if config.ensemble.members > 1:
        raise ConfigError(f"ensemble.members: {config.ensemble.members} asks for several runs; "
                          "netcoach.train trains one: netcoach.ensemble.seeds.train_members(config) "
                          "trains them and their ensemble (as netcoach train does)")
    say = reporter or (lambda event, value: None)
    say("stage", f"loading data ({config.data.name}) and building the model ({config.model.name})")
    with decode_progress(lambda done, total: say("decode", {"done": done, "total": total})):
        trainer = build_trainer(config, model=model, data=data, runtime=runtime)
    callbacks = list(callbacks)
    monitor, stopper = check_before_folder(config, trainer, model, callbacks)
    checks = preflight_checks(config, trainer, say)
    run = open_run(config, trainer, resume, save, custom_model=model)
    try:  # the run folder's lock is given back also when training fails (disk full, ...)
        best = best_checkpoint(config, monitor, run)
        first, tail = default_callbacks(config, trainer, best, stopper, run)
        trainer.set_callbacks(first + callbacks + tail
                              + ([ProgressBar()] if show_progress(progress) and trainer.runtime.is_main else []))
        resumed_from = restore_run(trainer, run) if resume is not None else None
        if resumed_from is not None:
            train_loader = trainer.loaders["train"]  # restored: its position is the next epoch's first batch
            say("resume", {**resumed_from, "batches_done": train_loader.state_dict()["position"],
                           "batches": len(train_loader)})
        history = trainer.fit()
        if was_cut(trainer) and run is not None and run.writes:
            save_interrupted(trainer, run)
        summary = run_summary(trainer, config, best, stopper, run, started, resumed_from, history, checks)
        if run is not None:
            write_results(run, config, trainer, summary)
    finally:
        if run is not None:
            run.release()
    dist_reduce.barrier()  # no process leaves before the main one has written the run's records
    return RunResult(config, trainer.model, history, summary, trainer.data,
                     run.path if run else None, trainer)


def check_before_folder(config: Config, trainer: Trainer, model: Optional[nn.Module],
                        callbacks: list[Callback]) -> tuple[Monitor, Optional[EarlyStopping]]:
    """The monitored metrics, the user's model outputs and the snapshot schedule, checked
    before the run folder exists (each would otherwise fail after it was written); gives
    the best-weights monitor and the early stopping."""
    monitor = resolve_monitor(config, trainer.task.default_monitor)
    stopper = early_stopping(config, trainer.task.default_monitor)
    if model is not None:  # the preflight's output_layer check reports it too, but after the folder
        check_outputs(trainer.model, trainer.data, trainer.task.num_outputs(trainer.data))
    # a user's callback may log metrics of its own; netcoach's (the CLI's Ctrl-C handler) do not
    if all(type(cb).__module__.startswith("netcoach.") for cb in callbacks):
        plateau = plateau_monitor(config)
        check_monitors(config, trainer, [("train.monitor", monitor.monitor),
                                         ("early_stop.monitor", stopper and stopper.monitor),
                                         ("schedule.monitor", plateau and plateau.monitor)])
    snapshot_plan(config, trainer)  # a schedule without enough cycles
    return monitor, stopper


def preflight_checks(config: Config, trainer: Trainer, say: Reporter) -> list[dict]:
    """The preflight records (none when off or on a process that is not the main one);
    run before the folder exists, so a strict FAIL leaves none."""
    if not (config.diagnose.preflight and trainer.runtime.is_main):
        return []
    say("stage", f"preflight checks: {', '.join(config.diagnose.checks)}")
    checks = diagnose.preflight(trainer, config)
    say("preflight", checks)
    diagnose.enforce_strict(checks, config.diagnose)
    return checks


def write_results(run: RunFolder, config: Config, trainer: Trainer, summary: dict) -> None:
    """data.json (with what calibration chose), summary.json, the report, then the end of
    the run's tracking (after the report, which MLflow receives)."""
    run.write_data(data_record(trainer.data, trainer.task))
    run.write_summary(summary)
    if config.report.enabled and run.writes:
        from netcoach.report import write_report  # imported where used: `import netcoach` stays cheap

        write_report(run.path)
    finish_tracking(trainer.callbacks, summary)
