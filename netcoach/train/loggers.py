"""Logging callbacks: metrics.jsonl (always), steps.jsonl, metrics.csv, TensorBoard.

All of them write once per epoch (the per-step losses are device tensors the
trainer reads once per epoch into ``trainer.step_records``).
"""

from __future__ import annotations

import csv
import io

from netcoach.train.callbacks import Callback
from netcoach.train.run import METRICS_CSV, TENSORBOARD, RunFolder


class MetricsLogger(Callback):
    """Appends each epoch's logs to ``metrics.jsonl`` (one JSON object per line)."""

    def __init__(self, run: RunFolder):
        self.run = run

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self.run.append_metrics(logs)


class StepsLogger(Callback):
    """Appends ``steps.jsonl``: one line per optimizer step (step, epoch, lr, loss)."""

    def __init__(self, run: RunFolder):
        self.run = run

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self.run.append_steps(trainer.step_records)

    def on_fit_end(self, trainer, logs: dict) -> None:
        if trainer.failure:  # the epoch that diverged never ended: keep its steps for the report
            self.run.append_steps(trainer.step_records)


class CSVLogger(Callback):
    """Rewrites ``metrics.csv`` from the history every epoch (atomically; columns are the
    union of all keys, so metrics that start later, such as SWA's, get a column)."""

    def __init__(self, run: RunFolder):
        self.run = run

    def on_epoch_end(self, trainer, logs: dict) -> None:
        columns: list[str] = []
        for row in trainer.history:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(trainer.history)
        self.run.write_text(METRICS_CSV, buf.getvalue())


def summary_writer_class():
    """torch's ``SummaryWriter``; a clear error when the optional package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("log.tensorboard = true needs the optional dependency 'tensorboard' "
                         "(pip install 'netcoach[tensorboard]'), or set log.tensorboard = false"
                         ) from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """TensorBoard event files in ``tb/``: every numeric epoch metric and the per-step
    loss and learning rate. Needs the optional ``tensorboard`` package."""

    def __init__(self, run: RunFolder):
        self.writer = summary_writer_class()(log_dir=str(run.file(TENSORBOARD)))

    def on_epoch_end(self, trainer, logs: dict) -> None:
        for key, value in logs.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(f"epoch/{key}", value, logs["epoch"])
        for rec in trainer.step_records:
            self.writer.add_scalar("step/loss", rec["loss"], rec["step"])
            self.writer.add_scalar("step/lr", rec["lr"], rec["step"])
        self.writer.flush()

    def on_fit_end(self, trainer, logs: dict) -> None:
        self.writer.close()
