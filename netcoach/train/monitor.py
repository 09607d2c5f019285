"""The monitored metric: which epoch is best, and whether an epoch improved on it.

One concept shared by the best checkpoint, early stopping and the plateau schedule
(Keras's ``MonitorCallback`` is the model). The direction comes from the metric's
name (``val_loss`` -> smaller is better, ``val_acc`` -> larger is better) unless the
config sets ``mode`` explicitly; a name we cannot read asks for an explicit mode
instead of guessing. Restoring the best weights at the end of a run also lives here,
so it happens in exactly one place (:func:`restore_best`).
"""

from __future__ import annotations

import math
from typing import Optional

from netcoach.config import ConfigError

SMALLER_IS_BETTER = ("loss", "error", "err", "mae", "mse", "rmse", "nll", "perplexity")
LARGER_IS_BETTER = ("acc", "accuracy", "f1", "auc", "r2", "precision", "recall", "iou", "dice")
MODES = ("auto", "min", "max")


def direction(name: str, option: str = "mode") -> str:
    """``"min"`` or ``"max"`` for a metric name such as ``val_loss`` or ``val_acc_ema``.

    The name is split at ``_`` and the last word that names a known metric decides,
    so prefixes (``val_``, ``train_``) and suffixes (``_ema``, ``_swa``) do not matter.
    An unknown name raises a ConfigError naming ``option`` and asking for an explicit mode.
    """
    for word in reversed(name.lower().split("_")):
        if word in SMALLER_IS_BETTER:
            return "min"
        if word in LARGER_IS_BETTER:
            return "max"
    raise ConfigError(f"{option}: cannot tell whether '{name}' is better smaller or larger; "
                      f"set {option} to min or max (auto knows {', '.join(SMALLER_IS_BETTER)} -> min "
                      f"and {', '.join(LARGER_IS_BETTER)} -> max)")


def resolve_mode(monitor: str, mode: str, option: str = "mode") -> str:
    """An explicit ``min``/``max`` wins; ``auto`` is inferred from the name by :func:`direction`."""
    if mode not in MODES:
        raise ConfigError(f"{option}: unknown {mode!r}; valid: {', '.join(MODES)}")
    return direction(monitor, option) if mode == "auto" else mode


class Monitor:
    """Tracks the best value of one metric of the epoch logs.

    Args:
        monitor: the key of the epoch logs, e.g. ``"val_loss"``.
        mode: ``"auto"`` (from the name), ``"min"`` or ``"max"``.
        min_delta: an epoch improves only when better than the best by more than this.
        option: the config key of ``mode``, named in errors.

    Attributes:
        mode: the resolved direction, ``"min"`` or ``"max"``.
        best, best_epoch: the best value so far and its 1-based epoch (None before any).
    """

    def __init__(self, monitor: str, mode: str = "auto", min_delta: float = 0.0,
                 option: str = "mode"):
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.monitor, self.min_delta = monitor, float(min_delta)
        self.mode = resolve_mode(monitor, mode, option)
        self.best: Optional[float] = None
        self.best_epoch: Optional[int] = None

    def improved(self, value: Optional[float]) -> bool:
        """Whether ``value`` beats the best by more than ``min_delta`` (NaN never does)."""
        if value is None or math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def update(self, value: Optional[float], epoch: int) -> bool:
        """Record ``value`` of ``epoch`` as the best when it improved; returns whether it did."""
        if not self.improved(value):
            return False
        self.best, self.best_epoch = float(value), int(epoch)
        return True

    def __repr__(self) -> str:
        return f"Monitor({self.monitor!r}, mode={self.mode!r}, min_delta={self.min_delta:g})"


# ------------------------------------------------------------------ from the config


def resolve_monitor(config, default: str) -> Monitor:
    """The run's monitored metric (best checkpoint): ``train.monitor`` (empty: ``default``)
    with ``train.mode``. The one place the default monitored metric is decided."""
    return Monitor(config.train.monitor or default, config.train.mode, option="train.mode")


def early_stop_monitor(config, default: str) -> Monitor:
    """Early stopping's metric: ``early_stop.monitor`` (empty: the run's) with its own mode;
    ``auto`` on the run's metric takes the run's resolved direction (so an explicit
    ``train.mode`` carries over)."""
    es, run = config.early_stop, resolve_monitor(config, default)
    name = es.monitor or run.monitor
    mode = run.mode if es.mode == "auto" and name == run.monitor else es.mode
    return Monitor(name, mode, es.min_delta, option="early_stop.mode")


def plateau_monitor(config) -> Optional[Monitor]:
    """The plateau schedule's metric and direction (None for the other schedules)."""
    sc = config.schedule
    return Monitor(sc.monitor, sc.mode, option="schedule.mode") if sc.name == "plateau" else None


# ------------------------------------------------------------------ end of the run


def restore_best(trainer, best, stopper=None, test_last: bool = False) -> list[str]:
    """Put the best weights back into ``trainer.model`` once, at the end of the run.

    Early stopping (when present) decides: its best epoch's weights when it restores,
    the last epoch's when it does not. Without it, the best checkpoint's weights are
    used for the test evaluation, unless ``test_last`` (``train.test_weights last``: a schedule
    that anneals to its last step, such as onecycle, means the last epoch is the one
    trained to be used; a small validation split's best is then mostly its noise).
    Returns the notes for the summary.
    """
    notes = []
    if stopper is None and test_last:
        return ["tested the last epoch's weights (train.test_weights last)"]
    if stopper is not None:
        if stopper.message:
            notes.append(stopper.message)
        if not stopper.restore_best:
            return notes
        source, what = stopper, ""
    else:
        source, what = best, " for the test evaluation"
    if source.best_state is None:
        return notes
    trainer.model.load_state_dict(source.best_state)
    text = (f"restored the weights of the best epoch {source.best_epoch} "
            f"({source.monitor} {source.best_value:.4f}){what}")
    if stopper is not None and notes:
        notes[-1] += "; " + text
    else:
        notes.append(text)
    return notes
