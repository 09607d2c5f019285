"""Optimizers by name, built on torch.optim."""

from __future__ import annotations

from typing import Iterable

import torch

from netcoach.config import OptimConfig
from netcoach.registry import Registry

optimizers: Registry = Registry("optimizer")


@optimizers.register("sgd")
def sgd(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    """Plain stochastic gradient descent: theta <- theta - lr * grad."""
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@optimizers.register("adam")
def adam(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                            weight_decay=cfg.weight_decay)


def build_optimizer(params: Iterable, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.lr <= 0:
        raise ValueError(f"optim.lr must be > 0, got {cfg.lr}")
    return optimizers.get(cfg.name)(params, cfg)
