"""Progress display (opt-in; the CLI adds it unless --quiet).

A rich progress bar over the batches of each epoch and one line per epoch. When
the output is not a terminal (a log file, CI) only the per-epoch lines appear.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from netcoach.train.callbacks import Callback


def format_logs(logs: dict) -> str:
    parts = [f"epoch {logs['epoch']:>3}"]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}")
    if "lr" in logs:
        parts.append(f"lr {logs['lr']:.2e}")
    if "epoch_time" in logs:
        parts.append(f"{logs['epoch_time']:.2f}s")
    return "  ".join(parts)


class ProgressBar(Callback):
    """Batch progress bar plus a per-epoch line.

    The bar is refreshed at most ~10 times a second (checked with a clock read per
    batch, which costs far less than a redraw).
    """

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self._progress = None
        self._task = None
        self._last = 0.0
        self._done = 0

    def on_fit_start(self, trainer) -> None:
        if self.live:
            self._progress = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(),
                                      MofNCompleteColumn(), TimeRemainingColumn(),
                                      console=self.console, transient=True)
            self._progress.start()

    def on_epoch_start(self, trainer) -> None:
        self._done = 0
        if self._progress is not None:
            total = len(trainer.loaders["train"])
            if self._task is None:
                self._task = self._progress.add_task("train", total=total, epoch=trainer.epoch + 1)
            self._progress.reset(self._task, total=total, epoch=trainer.epoch + 1)

    def on_batch_end(self, trainer, batch: dict) -> None:
        self._done += 1
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._last > 0.1:
            self._last = now
            self._progress.update(self._task, completed=self._done)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self.console.print(format_logs(logs), highlight=False, soft_wrap=True)

    def on_fit_end(self, trainer, logs: dict) -> None:
        if self._progress is not None:
            self._progress.stop()
