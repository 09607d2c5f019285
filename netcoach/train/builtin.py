"""Built-in callbacks every run gets: the best weights and the resumable checkpoints."""

from __future__ import annotations

from typing import Optional, Union

from netcoach.train.callbacks import Callback, monitored_value
from netcoach.train.checkpoint import cpu_state
from netcoach.train.loggers import MetricsLogger
from netcoach.train.monitor import Monitor
from netcoach.train.run import RunFolder

__all__ = ["BestCheckpoint", "Checkpointer", "MetricsLogger", "StepCheckpointer"]


class BestCheckpoint(Callback):
    """Keeps the weights of the best epoch by ``monitor`` (in memory, and on disk as
    ``checkpoints/best.safetensors`` + ``best.json`` when there is a run folder).

    Args:
        monitor: a :class:`~netcoach.train.monitor.Monitor`, or a metric name with ``mode``
            (``"auto"``: the direction follows from the name).

    Attributes:
        best_value, best_epoch: the best monitored value and its (1-based) epoch.
        best_state: CPU copy of the best weights.
    """

    state_key = "best"

    def __init__(self, monitor: Union[Monitor, str], mode: str = "auto",
                 run: Optional[RunFolder] = None):
        self.tracker = monitor if isinstance(monitor, Monitor) else Monitor(monitor, mode, option="train.mode")
        self.run = run
        self.best_state = None

    monitor = property(lambda self: self.tracker.monitor)
    mode = property(lambda self: self.tracker.mode)
    best_value = property(lambda self: self.tracker.best)
    best_epoch = property(lambda self: self.tracker.best_epoch)

    def on_eval_end(self, trainer, logs: dict) -> None:
        value = monitored_value(logs, self.monitor, "train.monitor")
        if not self.tracker.update(value, logs["epoch"]):
            return
        self.best_state = cpu_state(trainer.model)
        if self.run is not None:
            meta = {"epoch": self.best_epoch, self.monitor: value}
            self.run.save_weights("best", self.best_state, meta)
            self.run.save_meta("best", meta)

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.tracker.best, self.tracker.best_epoch = state["best_value"], state["best_epoch"]
        self.best_state = state["best_state"]


class Checkpointer(Callback):
    """Writes the resumable ``last`` checkpoint after every epoch: ``last.safetensors``
    (weights) and ``last.json`` + ``state/`` (everything ``netcoach.train.state``
    captures). With ``every_epochs`` it also keeps ``epoch-N.safetensors``.

    It must run after the callbacks whose state it saves (best weights, early
    stopping, averages), so the API puts it last among the built-ins.
    """

    def __init__(self, run: RunFolder, every_epochs: int = 0):
        if every_epochs < 0:
            raise ValueError(f"checkpoint.every_epochs must be >= 0, got {every_epochs}")
        self.run, self.every_epochs = run, every_epochs

    def save(self, trainer) -> None:
        from netcoach.train.state import capture  # state imports trainer helpers

        trainer.check_pending()  # never write weights a pending NaN check would reject
        state = capture(trainer)
        self.run.save_weights("last", state["model"], {"epoch": trainer.epoch, "step": trainer.step})
        self.run.save_training_state("last", state)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self.save(trainer)
        if self.every_epochs and trainer.epoch % self.every_epochs == 0:
            self.run.save_weights(f"epoch-{trainer.epoch}", cpu_state(trainer.model),
                                  {"epoch": trainer.epoch, "step": trainer.step})


class StepCheckpointer(Checkpointer):
    """A ``Checkpointer`` that also saves mid-epoch, every ``every_steps`` optimizer steps."""

    def __init__(self, run: RunFolder, every_epochs: int = 0, every_steps: int = 1):
        super().__init__(run, every_epochs)
        if every_steps < 1:
            raise ValueError(f"checkpoint.every_steps must be >= 1, got {every_steps}")
        self.every_steps = every_steps

    def on_batch_end(self, trainer, batch: dict) -> None:
        if batch.get("stepped", True) and trainer.step % self.every_steps == 0:
            self.save(trainer)
