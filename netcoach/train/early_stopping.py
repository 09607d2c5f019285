"""Early stopping: end the run when the monitored metric stops improving.

Keras semantics: an epoch improves on the best when it is better by more than
``min_delta``; after ``patience`` epochs without improvement (and not before
``min_epochs``) the callback sets ``trainer.stop_training``. With ``restore_best``
(the default) the best epoch's weights are put back at the end of training,
whether or not it stopped early, and ``message`` says so.
"""

from __future__ import annotations

import math
from typing import Optional

from netcoach.train.callbacks import Callback, monitored_value
from netcoach.train.checkpoint import cpu_state


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without an improvement of ``monitor``.

    Attributes:
        best_value, best_epoch: the best value seen and its 1-based epoch.
        stopped_epoch: the epoch after which training stopped (None if it ran to the end).
        message: what happened, for the summary and the console.

    Example:
        >>> stopper = EarlyStopping("val_loss", "min", patience=3)  # doctest: +SKIP
        >>> netcoach.train(cfg, callbacks=[stopper])                  # doctest: +SKIP
    """

    state_key = "early_stop"

    def __init__(self, monitor: str, mode: str, patience: int = 10, min_delta: float = 0.0,
                 min_epochs: int = 0, restore_best: bool = True):
        if mode not in ("max", "min"):
            raise ValueError(f"early_stop.mode: unknown {mode!r}; valid: max, min")
        if patience < 0 or min_delta < 0:
            raise ValueError("early_stop.patience and early_stop.min_delta must be >= 0")
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.min_delta, self.min_epochs, self.restore_best = min_delta, min_epochs, restore_best
        self.best_value: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.best_state = None
        self.wait = 0
        self.stopped_epoch: Optional[int] = None
        self.restored = False
        self.message = ""

    def improved(self, value: float) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "max":
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def on_fit_start(self, trainer) -> None:
        if self.stopped_epoch is not None:  # resumed after it had already stopped the run
            trainer.stop_training = True

    def on_eval_end(self, trainer, logs: dict) -> None:
        value = monitored_value(logs, self.monitor, "early_stop.monitor")
        if self.improved(value):
            self.best_value, self.best_epoch, self.wait = value, logs["epoch"], 0
            if self.restore_best:
                self.best_state = cpu_state(trainer.model)
            return
        self.wait += 1
        if self.wait >= self.patience and logs["epoch"] >= self.min_epochs:
            trainer.stop_training = True
            self.stopped_epoch = logs["epoch"]

    def on_fit_end(self, trainer, logs: dict) -> None:
        parts = []
        if self.stopped_epoch is not None:
            parts.append(f"early stopping after epoch {self.stopped_epoch}: {self.monitor} did not "
                         f"improve by more than {self.min_delta:g} for {self.patience} epoch(s)")
        if self.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)
            self.restored = True
            parts.append(f"restored the weights of the best epoch {self.best_epoch} "
                         f"({self.monitor} {self.best_value:.4f})")
        self.message = "; ".join(parts)

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]
        self.best_state = state["best_state"]
