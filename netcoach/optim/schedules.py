"""Learning-rate schedules by name, over torch.optim.lr_scheduler.

The trainer talks to one small interface, ``Schedule``: ``after_batch()`` once per
optimizer step and ``after_epoch(logs)`` once per epoch (plateau-type schedules
read the monitored metric from ``logs``). ``state_dict``/``load_state_dict``
make resuming exact.
"""

from __future__ import annotations

from typing import Optional

import torch

from netcoach.config import ScheduleConfig
from netcoach.registry import Registry

schedules: Registry = Registry("schedule")


class Schedule:
    """Wraps a torch LR scheduler stepped per batch or per epoch."""

    def __init__(self, scheduler: Optional[torch.optim.lr_scheduler.LRScheduler], per: str = "epoch"):
        self.scheduler, self.per = scheduler, per

    def after_batch(self) -> None:
        if self.scheduler is not None and self.per == "batch":
            self.scheduler.step()

    def after_epoch(self, logs: dict) -> None:
        if self.scheduler is not None and self.per == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {} if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


@schedules.register("constant")
def constant(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int) -> Schedule:
    return Schedule(None)


@schedules.register("step")
def step(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int) -> Schedule:
    """lr = lr0 * gamma ** floor(epoch / step_size)."""
    return Schedule(torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma))


def build_schedule(optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int) -> Schedule:
    return schedules.get(cfg.name)(optimizer, cfg, epochs, steps_per_epoch)
