"""Optimization: optimizers (registry over torch.optim), parameter groups, regularization
hooks, learning-rate schedules and the LR finder's sweep (``lr_finder``; the trainer
drives it in ``netcoach.train.lr_find``)."""

from netcoach.optim.optimizers import build_optimizer, optimizers
from netcoach.optim.params import param_groups
from netcoach.optim.schedules import Schedule, build_schedule, schedules

__all__ = ["Schedule", "build_optimizer", "build_schedule", "optimizers", "param_groups",
           "schedules"]
