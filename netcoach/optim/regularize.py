"""Regularization applied around the optimizer step.

The trainer calls, for every step::

    loss = task_loss + rules.penalty(model)     # only when rules.has_penalty
    loss.backward()
    rules.before_step(step)                      # decoupled decay, gradient noise, clipping
    optimizer.step()
    rules.after_step()                           # constraints such as max-norm

The pieces (course formulas; n = training samples, t = optimizer step from 0):

* L2 penalty ``C = C0 + lambda/(2n) sum w^2`` (gradient ``lambda/n w``; with SGD:
  ``w <- (1 - lr lambda/n) w - lr dC0/dw``).
* L1 penalty ``C = C0 + lambda/n sum |w|`` (gradient ``lambda/n sgn(w)``, sgn(0) = 0,
  which is what autograd gives for ``abs`` at 0).
* Decoupled weight decay ``w <- (1 - lr lambda) w`` before the step, as AdamW does;
  the course's ``w <- (1 - lambda') w - lr grad`` is this with lambda' = lr lambda.
* Gradient noise ``g <- g + N(0, eta / (1 + t)^gamma)`` (Neelakantan et al. 2015).
* Clipping by global norm ``g <- min(theta, |g|)/|g| g`` (torch.nn.utils.clip_grad_norm_)
  or by value (clip_grad_value_). Noise is added before clipping, so the clipped
  gradient obeys the bound.
* Max-norm: each neuron's incoming weights (a row of a Linear weight, one output
  channel of a conv kernel) projected back to norm <= c after every step (torch.renorm).

Penalties, decay and max-norm act only on the decay group of
:func:`netcoach.optim.params.split_parameters` (no biases or normalization parameters
unless ``optim.decay_bias_norm``).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from netcoach.config import Config
from netcoach.config.schema import RegularizeConfig
from netcoach.optim.params import split_parameters


class UpdateRules:
    """The regularization pieces of one run. With nothing configured every hook is a no-op.

    Args:
        model: the trained module.
        config: the run's config (``regularize`` section, ``optim.decay_bias_norm``,
            ``train.seed``); ``None`` means no regularization.
        n_train: training samples n of the course's lambda/n (default 1).
        optimizer: needed for decoupled weight decay (it reads each group's lr).
    """

    has_penalty = False

    def __init__(self, model: nn.Module, config: Optional[Config], n_train: int = 1,
                 optimizer: Optional[torch.optim.Optimizer] = None):
        self.model, self.config, self.optimizer = model, config, optimizer
        self.reg = config.regularize if config is not None else RegularizeConfig()
        _validate(self.reg)
        decay_all = bool(config is not None and config.optim.decay_bias_norm)
        self.decay_params, _, self.report = split_parameters(model, decay_all)
        self.decayed = {id(p) for p in self.decay_params}
        self.n = max(int(n_train), 1)
        self.has_penalty = bool(self.reg.l2 or self.reg.l1)
        if self.reg.weight_decay and optimizer is None:
            raise ValueError("regularize.weight_decay needs the optimizer (for its lr)")
        self.seed = config.train.seed if config is not None else 0
        self._noise_gen: dict[torch.device, torch.Generator] = {}
        # whether a step has anything to do before / after the optimizer: in the usual case
        # nothing, and the trainer's step then skips even the no_grad block (a few µs a step)
        reg = self.reg
        self._acts_before = bool(reg.weight_decay or reg.noise_eta or reg.clip_value is not None
                                 or reg.clip_norm is not None)
        self._acts_after = reg.max_norm is not None

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """lambda2/(2n) sum w^2 + lambda1/n sum |w| over the decayed parameters."""
        total = torch.zeros((), device=next(model.parameters()).device)
        if self.reg.l2:
            total = total + self.reg.l2 / (2 * self.n) * sum(p.pow(2).sum() for p in self.decay_params)
        if self.reg.l1:
            total = total + self.reg.l1 / self.n * sum(p.abs().sum() for p in self.decay_params)
        return total

    def before_step(self, step: int) -> None:
        """Decoupled decay, then gradient noise for step ``step``, then clipping."""
        if self._acts_before:
            with torch.no_grad():
                self._before_step(step)

    def _before_step(self, step: int) -> None:
        reg = self.reg
        if reg.weight_decay:
            self.decouple_decay()
        if reg.noise_eta:
            self.add_noise(step)
        if reg.clip_value is None and reg.clip_norm is None:
            return  # the usual case: no per-step walk over the parameters
        params = [p for p in self.model.parameters() if p.grad is not None]
        if reg.clip_value is not None:
            nn.utils.clip_grad_value_(params, reg.clip_value)
        if reg.clip_norm is not None:
            nn.utils.clip_grad_norm_(params, reg.clip_norm)

    def after_step(self) -> None:
        """The max-norm constraint on the decayed weights."""
        if self._acts_after:
            with torch.no_grad():
                max_norm_([p for p in self.decay_params if p.requires_grad], self.reg.max_norm)

    def decouple_decay(self) -> None:
        """w <- (1 - lr * lambda) w for the model's weights (as torch.optim.AdamW), with
        each parameter's group lr. Whether a parameter decays is looked up in the model,
        not read from the group, so a user's optimizer over ``model.parameters()``
        leaves biases and normalization parameters undecayed too."""
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if id(p) in self.decayed and p.requires_grad:  # frozen weights stay as they are
                    p.mul_(1 - group["lr"] * self.reg.weight_decay)

    def noise_std(self, step: int) -> float:
        """sqrt(eta / (1 + t)^gamma)."""
        return math.sqrt(self.reg.noise_eta / (1 + step) ** self.reg.noise_gamma)

    def add_noise(self, step: int) -> None:
        """Gaussian noise on every gradient. The generator is re-seeded from (seed, step) and
        then drawn from in parameter order, so a resumed run gets exactly the noise an
        uninterrupted one would, without storing generator state."""
        std = self.noise_std(step)
        seeded: set = set()
        for p in self.model.parameters():
            if p.grad is None:
                continue
            gen = self._generator(p.device)
            if p.device not in seeded:
                gen.manual_seed(self.seed * 1_000_003 + step)
                seeded.add(p.device)
            noise = torch.randn(p.grad.shape, generator=gen, device=p.device, dtype=p.grad.dtype)
            p.grad.add_(noise, alpha=std)

    def _generator(self, device: torch.device) -> torch.Generator:
        if device not in self._noise_gen:
            self._noise_gen[device] = torch.Generator(device=device)
        return self._noise_gen[device]


def max_norm_(params, c: float) -> None:
    """Project each neuron's incoming weight vector (dim 0 slices) to norm <= c, in place.

    1-D parameters (a single neuron's weights only when it is a bias) are left alone.
    """
    for p in params:
        if p.dim() >= 2:
            p.copy_(torch.renorm(p, 2, 0, c))


def _validate(reg: RegularizeConfig) -> None:
    for key in ("l2", "l1", "weight_decay", "noise_eta"):
        if getattr(reg, key) < 0:
            raise ValueError(f"regularize.{key} must be >= 0, got {getattr(reg, key)}")
    for key in ("max_norm", "clip_norm", "clip_value"):
        value = getattr(reg, key)
        if value is not None and value <= 0:
            raise ValueError(f"regularize.{key} must be > 0 (or none), got {value}")


def build_update_rules(model: nn.Module, config: Config, n_train: int = 1,
                       optimizer: Optional[torch.optim.Optimizer] = None) -> UpdateRules:
    return UpdateRules(model, config, n_train, optimizer)
