"""Callbacks that stop a run after its n-th training batch, for the resume tests."""

from __future__ import annotations

import netcoach


class InterruptAt(netcoach.Callback):
    """Asks the trainer to stop after the ``n``-th training batch (what Ctrl-C does: the run
    leaves at that step boundary with a resumable checkpoint)."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def on_batch_end(self, trainer, batch):
        self.seen += 1
        if self.seen == self.n:
            trainer.interrupt()


class RaiseAt(netcoach.Callback):
    """Raises ``KeyboardInterrupt`` from the callback after the ``n``-th training batch (an
    exception in the middle of a run, which no handler turns into a clean stop)."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def on_batch_end(self, trainer, batch):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt
