"""Early stopping: end the run when the monitored metric stops improving.

Keras semantics: an epoch improves on the best when it is better by more than
``min_delta`` (in the monitor's direction, inferred from the metric name unless
given); after ``patience`` epochs without improvement (and not before
``min_epochs``) the callback sets ``trainer.stop_training``. With ``restore_best``
(the default) it keeps the best epoch's weights; the end of the run puts them back
(``netcoach.train.monitor.restore_best``, the one place weights are restored).
"""

from __future__ import annotations

from typing import Optional, Union

from netcoach.train.callbacks import Callback, monitored_value
from netcoach.train.checkpoint import cpu_state
from netcoach.train.monitor import Monitor


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without an improvement of ``monitor``.

    Args:
        monitor: a :class:`~netcoach.train.monitor.Monitor` (its ``min_delta`` counts), or
            a metric name with ``mode`` (``"auto"``: from the name) and ``min_delta``.

    Attributes:
        best_value, best_epoch: the best value seen and its 1-based epoch.
        best_state: CPU copy of the best epoch's weights (with ``restore_best``).
        stopped_epoch: the epoch after which training stopped (None if it ran to the end).
        message: why it stopped, for the summary and the console ("" if it did not).

    Example:
        >>> stopper = EarlyStopping("val_loss", patience=3)  # doctest: +SKIP
        >>> netcoach.train(cfg, callbacks=[stopper])         # doctest: +SKIP
    """

    state_key = "early_stop"

    def __init__(self, monitor: Union[Monitor, str], mode: str = "auto", patience: int = 10,
                 min_delta: float = 0.0, min_epochs: int = 0, restore_best: bool = True):
        if patience < 0 or min_delta < 0:
            raise ValueError("early_stop.patience and early_stop.min_delta must be >= 0")
        self.tracker = (monitor if isinstance(monitor, Monitor)
                        else Monitor(monitor, mode, min_delta, option="early_stop.mode"))
        self.patience, self.min_epochs, self.restore_best = patience, min_epochs, restore_best
        self.best_state = None
        self.wait = 0
        self.stopped_epoch: Optional[int] = None
        self.message = ""

    monitor = property(lambda self: self.tracker.monitor)
    mode = property(lambda self: self.tracker.mode)
    min_delta = property(lambda self: self.tracker.min_delta)
    best_value = property(lambda self: self.tracker.best)
    best_epoch = property(lambda self: self.tracker.best_epoch)

    def on_fit_start(self, trainer) -> None:
        if self.stopped_epoch is not None:  # resumed after it had already stopped the run
            trainer.stop_training = True

    def on_eval_end(self, trainer, logs: dict) -> None:
        value = monitored_value(logs, self.monitor, "early_stop.monitor")
        if self.tracker.update(value, logs["epoch"]):
            self.wait = 0
            if self.restore_best:
                self.best_state = cpu_state(trainer.model)
            return
        self.wait += 1
        if self.wait >= self.patience and logs["epoch"] >= self.min_epochs:
            trainer.stop_training = True
            self.stopped_epoch = logs["epoch"]

    def on_fit_end(self, trainer, logs: dict) -> None:
        self.message = ""
        if self.stopped_epoch is not None:
            self.message = (f"early stopping after epoch {self.stopped_epoch}: {self.monitor} did not "
                            f"improve by more than {self.min_delta:g} for {self.patience} epoch(s)")

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.tracker.best, self.tracker.best_epoch = state["best_value"], state["best_epoch"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]
        self.best_state = state["best_state"]
