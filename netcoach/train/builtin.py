"""Built-in callbacks every run gets: the metrics log and best/last checkpoints."""

from __future__ import annotations

import math
from typing import Optional

from netcoach.train.callbacks import Callback
from netcoach.train.checkpoint import cpu_state, save_state, save_weights
from netcoach.train.run import RunFolder


class MetricsLogger(Callback):
    """Appends each epoch's logs to ``metrics.jsonl`` (one JSON object per line)."""

    def __init__(self, run: RunFolder):
        self.run = run

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self.run.append_metrics(logs)


def is_better(value: float, best: Optional[float], mode: str) -> bool:
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


class BestCheckpoint(Callback):
    """Keeps the weights of the best epoch by ``monitor`` (in memory, and on disk as
    ``checkpoints/best.safetensors`` when there is a run folder) and writes
    ``last.safetensors`` after every epoch.

    Attributes:
        best_value, best_epoch: the best monitored value and its (1-based) epoch.
        best_state: CPU copy of the best weights.
    """

    def __init__(self, monitor: str, mode: str, run: Optional[RunFolder] = None):
        self.monitor, self.mode, self.run = monitor, mode, run
        self.best_value: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.best_state = None

    def on_eval_end(self, trainer, logs: dict) -> None:
        if self.monitor not in logs:
            raise KeyError(f"train.monitor: '{self.monitor}' is not logged; "
                           f"available: {', '.join(sorted(logs))}")
        value = logs[self.monitor]
        if not is_better(value, self.best_value, self.mode):
            return
        self.best_value, self.best_epoch = value, logs["epoch"]
        self.best_state = cpu_state(trainer.model)
        if self.run is not None:
            meta = {"epoch": self.best_epoch, self.monitor: value}
            save_weights(self.run.checkpoints / "best.safetensors", self.best_state, meta)
            save_state(self.run.checkpoints / "best.json", meta)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        if self.run is None:
            return
        save_weights(self.run.checkpoints / "last.safetensors", cpu_state(trainer.model),
                     {"epoch": trainer.epoch})
        save_state(self.run.checkpoints / "last.json", {"epoch": trainer.epoch, "step": trainer.step})
