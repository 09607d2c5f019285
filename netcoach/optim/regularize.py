"""Regularization applied around the optimizer step (extended by the optimization issue).

The trainer calls, for every step::

    loss = task_loss + rules.penalty(model)     # only when rules.has_penalty
    loss.backward()
    rules.before_step(step)                      # gradient clipping / noise
    optimizer.step()
    rules.after_step()                           # constraints such as max-norm
"""

from __future__ import annotations

import torch
from torch import nn

from netcoach.config import Config


class UpdateRules:
    """The regularization pieces of one run. With nothing configured every hook is a no-op."""

    has_penalty = False

    def __init__(self, model: nn.Module, config: Config):
        self.model, self.config = model, config

    def penalty(self, model: nn.Module) -> torch.Tensor:
        return torch.zeros((), device=next(model.parameters()).device)

    def before_step(self, step: int) -> None:
        return None

    def after_step(self) -> None:
        return None


def build_update_rules(model: nn.Module, config: Config) -> UpdateRules:
    return UpdateRules(model, config)
