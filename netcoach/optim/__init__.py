"""Optimizers (registry over torch.optim) and learning-rate schedules."""

from netcoach.optim.optimizers import build_optimizer, optimizers
from netcoach.optim.schedules import Schedule, build_schedule, schedules

__all__ = ["Schedule", "build_optimizer", "build_schedule", "optimizers", "schedules"]
