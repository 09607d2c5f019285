"""Lookahead (Zhang et al. 2019) with airbench's ramped step: slow weights that the
training weights are pulled back to every ``every`` optimizer steps.

Every ``every`` steps, with t the optimizer step and T the run's total:

    d_t  = decay x (t / T)^power
    slow <- d_t slow + (1 - d_t) fast;   fast <- slow

over every floating tensor of the model's state (parameters and BN running statistics),
and after the last step fast <- slow. ``power = 0`` is the classic Lookahead with
alpha = 1 - decay; airbench94 uses decay 0.95^5 and power 3, so early steps are left
alone (d_t ~ 0) and the last third of training is averaged more and more, like an EMA
that is fed back into the weights. We wrote it ourselves: torch has no Lookahead.
The slow copy starts at the first pull (not at step 0), after the first forward passes
have set any lazily fitted buffer (airbench's whitening); at that step d_t is ~0 anyway.
"""

from __future__ import annotations

from typing import Optional

import torch

from netcoach.train.callbacks import Callback


class Lookahead(Callback):
    """Pulls the model back to its slow weights every ``every`` optimizer steps (see the module)."""

    state_key = "lookahead"

    def __init__(self, every: int = 5, decay: float = 0.95 ** 5, power: float = 3.0):
        if every < 1:
            raise ValueError(f"average.lookahead_every must be >= 1, got {every}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"average.lookahead_decay must be in [0, 1), got {decay}")
        self.every, self.decay, self.power = every, decay, power
        self.slow: Optional[dict[str, torch.Tensor]] = None

    @staticmethod
    def total_steps(trainer) -> int:
        batches = len(trainer.loaders["train"])
        return trainer.epochs * -(-batches // max(trainer.grad_accum, 1))

    def factor(self, step: int, total: int) -> float:
        """d_t of the module docstring."""
        return self.decay * (min(step, total) / total) ** self.power

    def on_batch_end(self, trainer, batch: dict) -> None:
        if not batch.get("stepped", True):
            return
        total = self.total_steps(trainer)
        if trainer.step % self.every == 0:
            self.pull(trainer.model, self.factor(trainer.step, total))
        if trainer.step == total:
            self.pull(trainer.model, 1.0)

    @torch.no_grad()
    def pull(self, model: torch.nn.Module, d: float) -> None:
        """slow <- d slow + (1 - d) fast; fast <- slow (d = 1: fast <- slow)."""
        fast = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
        if self.slow is None:
            self.slow = {k: v.detach().clone() for k, v in fast.items()}
        for k, v in fast.items():
            self.slow[k].lerp_(v, 1.0 - d)
            v.copy_(self.slow[k])

    def state_dict(self) -> dict:
        return {"slow": dict(self.slow)} if self.slow is not None else {}

    def load_state_dict(self, state: dict) -> None:
        slow = state.get("slow")
        self.slow = {k: v.clone() for k, v in slow.items()} if slow else None


__all__ = ["Lookahead"]
