"""Progress display (opt-in; the CLI adds it unless --quiet).

A rich progress bar over the batches of each epoch and one line per epoch. When
the output is not a terminal (a log file, CI) only the per-epoch lines appear.
"""

from __future__ import annotations

import time


from netcoach.train.callbacks import Callback


AVERAGES = ("ema", "polyak", "swa")  # weight averages whose validation metrics are shown too


def format_logs(logs: dict, metrics: tuple[str, ...] = ("acc",)) -> str:
    """One epoch's line: losses and the task's ``metrics`` (train, val, and the weight
    averages' val of the first metric), the learning rate and the epoch time."""
    parts = [f"epoch {logs['epoch']:>3}"]
    keys = (["train_loss"] + [f"train_{m}" for m in metrics] + ["val_loss"] + [f"val_{m}" for m in metrics]
            + [f"val_{metrics[0]}_{a}" for a in AVERAGES if metrics])
    for key in keys:
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}")
    if "lr" in logs:
        parts.append(f"lr {logs['lr']:.2e}")
    if "epoch_time" in logs:
        parts.append(f"{logs['epoch_time']:.2f}s")
    return "  ".join(parts)


class ProgressBar(Callback):
    """An epoch bar and a batch bar plus a line per epoch.

    On a terminal and in a Jupyter notebook (rich renders its live display there)
    both bars show; otherwise (a log file, CI) only the per-epoch lines appear.
    The batch bar is refreshed at most ~10 times a second (checked with a clock
    read per batch, which costs far less than a redraw). A run resumed mid-epoch
    starts its batch bar at the batches already done, not at 0.
    """

    def __init__(self, console: Console | None = None):
        if console is None:
            from rich.console import Console  # imported where used: `import netcoach` stays cheap

            console = Console(stderr=True)
        self.console = console
        self.live = self.console.is_terminal or self.console.is_jupyter
        self._progress = None
        self._epochs = None
        self._task = None
        self._last = 0.0
        self._done = 0
        self._metrics: tuple[str, ...] = ("acc",)

    def on_fit_start(self, trainer) -> None:
        self._metrics = tuple(trainer.task.metric_names) + tuple(trainer.task.epoch_metric_names)
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeRemainingColumn(),
                                      console=self.console, transient=True)
            self._progress.start()
            self._epochs = self._progress.add_task("epochs", total=trainer.epochs,
                                                   completed=trainer.epoch)

    def on_epoch_start(self, trainer) -> None:
        # a run resumed mid-epoch continues after the batches its checkpoint had done
        self._done = trainer.loaders["train"].state_dict()["position"]
        if self._progress is not None:
            total = len(trainer.loaders["train"])
            label = f"epoch {trainer.epoch + 1}"
            if self._task is None:
                self._task = self._progress.add_task(label, total=total)
            self._progress.reset(self._task, total=total, completed=self._done, description=label)

    def on_batch_end(self, trainer, batch: dict) -> None:
        self._done += 1
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._last > 0.1:
            self._last = now
            self._progress.update(self._task, completed=self._done)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        if self._progress is not None:
            self._progress.update(self._epochs, completed=trainer.epoch)
        self.console.print(format_logs(logs, self._metrics), highlight=False, soft_wrap=True)

    def on_fit_end(self, trainer, logs: dict) -> None:
        if self._progress is not None:
            self._progress.stop()
        if trainer.failure:
            self.console.print(f"[red]{trainer.failure}[/red]", highlight=False, soft_wrap=True)
