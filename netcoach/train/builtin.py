"""Built-in callbacks every run gets: the best weights and the resumable checkpoints.

Durability must not cost speed: both write to disk at most every
``checkpoint.min_interval_s`` seconds from the start of training (and always when it
ends), and with a ``BackgroundWriter`` the files are serialised on another thread from a
snapshot taken at the step boundary (flattened once, each tensor copied once). Only the
resumable state, ``last.json`` and the logs it counts are fsynced (about 0.4 ms of CPU
each); the best and last weights, which the state also holds, are atomic but not fsynced.
Resume stays exact either way; only the work redone after a kill grows.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Union

from netcoach.train.callbacks import Callback, monitored_value
from netcoach.train.checkpoint import BackgroundWriter, cpu_state, flat_part, flatten, remove_torn
from netcoach.train.loggers import MetricsLogger
from netcoach.train.monitor import Monitor
from netcoach.train.run import RunFolder

__all__ = ["BestCheckpoint", "Checkpointer", "DiskSchedule", "MetricsLogger", "StepCheckpointer"]


class DiskSchedule:
    """When a checkpoint file is written: at most every ``min_interval_s`` seconds
    (0: every time), counted from ``start`` (training starts) and from each write, on the
    calling thread or through ``writer`` (a ``BackgroundWriter``).

    The first write waits for the interval too: a run killed before it restarts from
    scratch, which is exact and loses at most ``min_interval_s`` of work, the bound every
    later kill has; a run shorter than the interval writes its files once, when it ends.
    """

    def __init__(self, min_interval_s: float = 0.0, writer: Optional[BackgroundWriter] = None,
                 clock: Callable[[], float] = time.monotonic):
        if min_interval_s < 0:
            raise ValueError(f"checkpoint.min_interval_s must be >= 0, got {min_interval_s}")
        self.min_interval_s, self.writer, self.clock = min_interval_s, writer, clock
        self.last: Optional[float] = None

    def start(self) -> None:
        """Training starts: the interval counts from now."""
        self.last = self.clock()

    def due(self) -> bool:
        return (self.min_interval_s == 0 or self.last is None
                or self.clock() - self.last >= self.min_interval_s)

    def write(self, job: Callable[[], None], restart: bool = True) -> None:
        """Run ``job`` (which must own its data when there is a writer); ``restart``: the
        interval counts from now."""
        if restart:
            self.last = self.clock()
        if self.writer is None:
            job()
        else:
            self.writer.submit(job)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()


class BestCheckpoint(Callback):
    """Keeps the weights of the best epoch by ``monitor`` (in memory, and on disk as
    ``checkpoints/best.safetensors`` + ``best.json`` when there is a run folder: when
    ``disk`` says it is due, and always at the end of training).

    Args:
        monitor: a :class:`~netcoach.train.monitor.Monitor`, or a metric name with ``mode``
            (``"auto"``: the direction follows from the name).

    Attributes:
        best_value, best_epoch: the best monitored value and its (1-based) epoch.
        best_state: CPU copy of the best weights.
    """

    state_key = "best"

    def __init__(self, monitor: Union[Monitor, str], mode: str = "auto",
                 run: Optional[RunFolder] = None, disk: Optional[DiskSchedule] = None):
        self.tracker = monitor if isinstance(monitor, Monitor) else Monitor(monitor, mode, option="train.mode")
        self.run = run
        self.disk = disk or DiskSchedule()
        self.best_state = None
        self._unsaved = False  # the best weights in memory are newer than best.safetensors

    monitor = property(lambda self: self.tracker.monitor)
    mode = property(lambda self: self.tracker.mode)
    best_value = property(lambda self: self.tracker.best)
    best_epoch = property(lambda self: self.tracker.best_epoch)

    def on_fit_start(self, trainer) -> None:
        self.disk.start()

    def on_eval_end(self, trainer, logs: dict) -> None:
        value = monitored_value(logs, self.monitor, "train.monitor")
        if not self.tracker.update(value, logs["epoch"]):
            return
        self.best_state = cpu_state(trainer.model)  # a fresh copy: safe to hand to the writer
        self._unsaved = self.run is not None
        if self._unsaved and self.disk.due():
            self.save()

    def save(self) -> None:
        run, state, meta = self.run, self.best_state, {"epoch": self.best_epoch, self.monitor: self.best_value}
        self._unsaved = False
        # not fsynced: the resumable state holds these weights, and a resume writes them again
        # (``load_state_dict`` marks them unsaved)
        self.disk.write(lambda: (run.save_weights("best", state, meta, durable=False),
                                 run.save_meta("best", meta, durable=False)))

    def on_fit_end(self, trainer, logs: dict) -> None:
        if self._unsaved:
            self.save()
        self.disk.flush()

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.tracker.best, self.tracker.best_epoch = state["best_value"], state["best_epoch"]
        self.best_state = state["best_state"]
        self._unsaved = self.run is not None and self.best_state is not None


class Checkpointer(Callback):
    """Writes the resumable ``last`` checkpoint: ``last.safetensors`` (weights) and
    ``last.json`` + ``state/`` (everything ``netcoach.train.state`` captures), after an
    epoch when ``disk`` says it is due, and always after the epoch that ends training
    (a NaN guard stop ends it mid-epoch: then the last good checkpoint stays). With ``every_epochs`` it
    also keeps ``epoch-N.safetensors``.

    It must run after the callbacks whose state it saves (best weights, early
    stopping, averages), so the API puts it last among the built-ins.
    """

    def __init__(self, run: RunFolder, every_epochs: int = 0, disk: Optional[DiskSchedule] = None):
        if every_epochs < 0:
            raise ValueError(f"checkpoint.every_epochs must be >= 0, got {every_epochs}")
        self.run, self.every_epochs = run, every_epochs
        self.disk = disk or DiskSchedule()

    def on_fit_start(self, trainer) -> None:
        self.disk.start()
        if self.run.writes:
            remove_torn(self.run.checkpoints)  # nothing writes yet: any temp file is torn

    def save(self, trainer) -> None:
        """Snapshot the state now (the step boundary) and write it, maybe on the writer's thread."""
        from netcoach.train.state import capture  # state imports trainer helpers

        trainer.check_pending()  # never write weights a pending NaN check would reject
        tensors: dict = {}
        flat = flatten(capture(trainer), tensors)  # copies: the snapshot owns every tensor
        run, meta = self.run, {"epoch": trainer.epoch, "step": trainer.step}
        weights = flat_part(flat, tensors, "model")
        # last.safetensors (a copy of the state's weights for readers; not fsynced) before the
        # commit, so a kill between them redoes this epoch and writes it again; then fsynced:
        # the logs the state counts, its tensors, and last.json (the commit)
        self.disk.write(lambda: (run.save_weights("last", weights, meta, durable=False), run.sync_epoch_logs(),
                                 run.save_flat_training_state("last", flat, tensors)))

    def on_epoch_end(self, trainer, logs: dict) -> None:
        # The last epoch is saved here, not in on_fit_end: by then early stopping may have
        # put the best weights back into the model.
        ending = trainer.epoch >= trainer.epochs or trainer.stop_training
        if ending or self.disk.due():
            self.save(trainer)
        if self.every_epochs and trainer.epoch % self.every_epochs == 0:
            self._keep_epoch(trainer)

    def _keep_epoch(self, trainer) -> None:
        """``epoch-N.safetensors``: asked for explicitly, so written whatever the interval."""
        state, meta = cpu_state(trainer.model), {"epoch": trainer.epoch, "step": trainer.step}
        run, name = self.run, f"epoch-{trainer.epoch}"
        self.disk.write(lambda: run.save_weights(name, state, meta), restart=False)

    def on_fit_end(self, trainer, logs: dict) -> None:
        self.disk.flush()  # every file on disk before train() returns


class StepCheckpointer(Checkpointer):
    """A ``Checkpointer`` that also saves mid-epoch, every ``every_steps`` optimizer steps."""

    def __init__(self, run: RunFolder, every_epochs: int = 0, every_steps: int = 1,
                 disk: Optional[DiskSchedule] = None):
        super().__init__(run, every_epochs, disk)
        if every_steps < 1:
            raise ValueError(f"checkpoint.every_steps must be >= 1, got {every_steps}")
        self.every_steps = every_steps

    def on_batch_end(self, trainer, batch: dict) -> None:
        if batch.get("stepped", True) and trainer.step % self.every_steps == 0 and self.disk.due():
            self.save(trainer)
