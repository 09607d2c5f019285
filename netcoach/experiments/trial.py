"""One trial of a study: train its configuration for each seed as ordinary runs.

Every seed is a normal ``netcoach.train`` run with its own run folder
(``runs/<study>/trial-0007-seed-0``), so ``report``, ``doctor``, ``compare`` and
``train --resume`` work on it. The trial's value is the mean over its seeds of the
run's best monitored validation value. While it trains, a heartbeat thread stamps the
trial in the storage so other workers can tell a live trial from one whose worker
died, and the pruning callback reports the monitored metric after every epoch.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

from netcoach.config import Config
from netcoach.experiments.space import apply_params
from netcoach.train.callbacks import Callback, monitored_value

HOST = socket.gethostname()


class TrialFailed(RuntimeError):
    """A run of the trial ended without a usable result (NaN stop, no monitored value)."""


def monitor_direction(config: Config) -> tuple[str, str]:
    """The metric that selects a run's best checkpoint (``train.monitor``, or the task's
    default) and whether larger is better (``train.mode``, or inferred from the name):
    the same rule the run itself follows."""
    from netcoach.tasks import build_task
    from netcoach.train.monitor import resolve_monitor

    monitor = resolve_monitor(config, build_task(config.task).default_monitor)
    return monitor.monitor, monitor.mode


def run_name(number: int, seed: int) -> str:
    return f"trial-{number:04d}-seed-{seed}"


def seed_configs(base: Config, params: Mapping[str, Any], folder: str, number: int,
                 seeds: int) -> list[Config]:
    """The config of each seed's run: ``base`` + the trial's params + its folder and seed."""
    first = base.train.seed
    return [apply_params(base, {**params, "run.dir": folder, "run.name": run_name(number, first + i),
                                "train.seed": first + i}) for i in range(seeds)]


class PruningReporter(Callback):
    """Reports the monitored validation metric to the Optuna trial after every epoch and
    stops the run when the pruner says so.

    With several seeds the steps continue across them (seed i's epoch e is step
    i * epochs + e), so a pruner compares the same seed and epoch between trials.
    """

    def __init__(self, trial, monitor: str, offset: int = 0):
        self.trial, self.monitor, self.offset = trial, monitor, offset
        self.pruned_at: int | None = None

    def on_epoch_end(self, trainer, logs: dict) -> None:
        value = float(monitored_value(logs, self.monitor, "train.monitor"))
        step = self.offset + trainer.epoch
        if math.isfinite(value):
            self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned_at = step
            trainer.stop_training = True


class Heartbeat:
    """Stamps ``heartbeat`` (Unix time) on the trial every ``interval`` seconds while
    the trial runs, from a daemon thread; ``worker`` names the process that owns it."""

    def __init__(self, trial, interval: float):
        self.trial, self.interval = trial, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="netcoach-heartbeat")

    def __enter__(self) -> "Heartbeat":
        self.trial.set_user_attr("worker", {"host": HOST, "pid": os.getpid(), "started": time.time()})
        self.trial.set_user_attr("heartbeat", time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.trial.set_user_attr("heartbeat", time.time())


@dataclass
class TrialResult:
    """What the runs of one trial gave: per-seed best values and mean test metrics."""

    values: list[float]
    test: dict[str, float]
    runs: list[str]  # run folder names inside the study folder
    epochs: int
    pruned_at: int | None


def train_trial(trial, configs: list[Config], monitor: str, progress: bool = False) -> TrialResult:
    """Train each seed's config in turn (stopping after a pruned seed); records the run
    folders on the trial as they are created."""
    from netcoach import train

    values, tests, runs, epochs, pruned_at = [], [], [], 0, None
    for i, config in enumerate(configs):
        runs.append(config.run.name)  # run folders are named relative to the study folder
        trial.set_user_attr("runs", runs)
        reporter = PruningReporter(trial, monitor, offset=i * config.train.epochs)
        summary = train(config, callbacks=[reporter], progress=progress).summary
        epochs += int(summary.get("epochs_run") or 0)
        if summary.get("failure") or summary.get("best_value") is None:
            raise TrialFailed(f"run {runs[-1]} ended without a result: "
                              f"{summary.get('failure') or 'no monitored value'}")
        values.append(float(summary["best_value"]))
        tests.append({k: float(v) for k, v in (summary.get("test") or {}).items()
                      if isinstance(v, (int, float))})
        if reporter.pruned_at is not None:
            pruned_at = reporter.pruned_at
            break
    test = {k: sum(t[k] for t in tests) / len(tests) for k in tests[0]} if tests else {}
    return TrialResult(values, test, runs, epochs, pruned_at)
