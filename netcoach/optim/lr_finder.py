"""Learning-rate finder (Smith 2017; the course's lecture 000 recipe), leaving no trace.

One mini-batch per learning rate from an exponentially increasing sequence
(default ``10 ** linspace(-8, 0, 200)`` as in the course), recording the loss of
each batch before its step, an exponentially smoothed, bias-corrected loss, and
stopping early once the smoothed loss diverges. Afterwards the model
(parameters and buffers), the optimizer (state and lrs), the loaders (batch size,
shuffling and augmentation generators, position) and the global RNG are restored
exactly, so training after the finder is bit-identical to training without it
(a known complaint about other finders is that running them changes the result).

Written here: torch has no LR finder.

Example:
    >>> trainer = netcoach.build_trainer(config)               # doctest: +SKIP
    >>> record = lr_find(trainer)                              # doctest: +SKIP
    >>> record["suggestion"], record["rule"]                   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
from typing import Optional, Sequence

import numpy as np
import torch

RULES = {
    "min/10": "lr at the minimum of the smoothed loss, divided by 10",
    "steepest": "lr where the smoothed loss falls fastest against log10(lr), before its minimum",
}


def default_lrs(start_exp: float = -8.0, end_exp: float = 0.0, num: int = 200) -> list[float]:
    """``10 ** linspace(start_exp, end_exp, num)`` (the course: -8, 0, 200)."""
    if num < 2 or end_exp <= start_exp:
        raise ValueError(f"lr-find needs num >= 2 and end_exp > start_exp, got {num}, {start_exp}, {end_exp}")
    return [float(v) for v in 10.0 ** np.linspace(start_exp, end_exp, num)]


def lr_find(trainer, lrs: Optional[Sequence[float]] = None, smoothing: float = 0.98,
            diverge: float = 4.0, rule: str = "min/10", min_steps: int = 10) -> dict:
    """Sweep the learning rate on the trainer's training data and suggest one.

    Args:
        trainer: a built ``Trainer`` (``netcoach.build_trainer``); restored afterwards.
        lrs: increasing learning rates, one batch each (default :func:`default_lrs`).
        smoothing: beta of the exponential moving average of the loss.
        diverge: stop once the smoothed loss exceeds ``diverge`` x its minimum so far.
        rule: how to pick the suggestion: ``"min/10"`` or ``"steepest"`` (see ``RULES``).
        min_steps: steps before the divergence test applies.

    Returns:
        ``{"lrs", "losses", "smoothed", "suggestion" (float or None), "rule", "stopped_early"}``.
    """
    if rule not in RULES:
        raise ValueError(f"unknown lr-find rule '{rule}'; available: {', '.join(RULES)}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    lrs = list(lrs) if lrs is not None else default_lrs()
    snapshot = _snapshot(trainer)
    try:
        used, losses, smoothed, early = _sweep(trainer, lrs, smoothing, diverge, min_steps)
    finally:
        _restore(trainer, snapshot)
    suggestion = suggest(used, smoothed, rule)
    text = RULES[rule] + ("" if suggestion is not None else " (no decrease found: no suggestion)")
    return {"lrs": used, "losses": losses, "smoothed": smoothed, "suggestion": suggestion,
            "rule": text, "stopped_early": early}


def _batches(loader):
    """Batches forever: a new epoch (permutation) whenever the loader is exhausted."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("lr-find: the training loader yields no batches")


def _sweep(trainer, lrs, beta, diverge, min_steps):
    model, opt, rules, task = trainer.model, trainer.optimizer, trainer.rules, trainer.task
    model.train()
    used, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    batches = _batches(trainer.loaders["train"])
    for i, lr in enumerate(lrs):
        x, y = next(batches)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = task.loss(model(x), y)
        objective = loss + rules.penalty(model) if rules.has_penalty else loss
        value = float(loss.detach())   # one sync per step is fine here: 200 steps
        used.append(float(lr))
        losses.append(value)
        if not math.isfinite(value):
            smoothed.append(math.inf)
            return used, losses, smoothed, True
        avg = beta * avg + (1 - beta) * value
        smoothed.append(avg / (1 - beta ** (i + 1)))    # bias-corrected moving average
        best = min(best, smoothed[-1])
        if i >= min_steps and smoothed[-1] > diverge * best:
            return used, losses, smoothed, True
        opt.zero_grad(set_to_none=True)
        objective.backward()
        rules.before_step(i)
        opt.step()
        rules.after_step()
    return used, losses, smoothed, False


def suggest(lrs: Sequence[float], smoothed: Sequence[float], rule: str = "min/10") -> Optional[float]:
    """The suggested lr by ``rule``; None when the smoothed loss never fell below its start."""
    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if len(finite) < 3:
        return None
    values = np.asarray([smoothed[i] for i in finite])
    low = int(np.argmin(values))
    if low == 0 or values[low] >= values[0]:
        return None
    if rule == "min/10":
        return float(lrs[finite[low]] / 10)
    logs = np.log10([lrs[i] for i in finite[:low + 1]])
    slope = np.gradient(values[:low + 1], logs)
    return float(lrs[finite[int(np.argmin(slope))]])


# ------------------------------------------------------------------ leave no trace


def _loader_state(loader) -> dict:
    state = {"batch_size": loader.batch_size, "position": loader.position, "_skip": loader._skip,
             "_epoch_state": None if loader._epoch_state is None else loader._epoch_state.clone()}
    for name in ("generator", "aug_generator"):
        gen = getattr(loader, name)
        state[name] = None if gen is None else gen.get_state()
    return state


def _load_loader_state(loader, state: dict) -> None:
    loader.batch_size, loader.position, loader._skip = state["batch_size"], state["position"], state["_skip"]
    loader._epoch_state = state["_epoch_state"]
    for name in ("generator", "aug_generator"):
        if state[name] is not None:
            getattr(loader, name).set_state(state[name])


def _snapshot(trainer) -> dict:
    return {
        "model": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
        "training": trainer.model.training,
        "optimizer": copy.deepcopy(trainer.optimizer.state_dict()),
        "loaders": {k: _loader_state(v) for k, v in trainer.loaders.items()},
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _restore(trainer, snap: dict) -> None:
    trainer.model.load_state_dict(snap["model"])
    trainer.model.train(snap["training"])
    trainer.optimizer.load_state_dict(snap["optimizer"])
    trainer.optimizer.zero_grad(set_to_none=True)
    for key, state in snap["loaders"].items():
        _load_loader_state(trainer.loaders[key], state)
    torch.set_rng_state(snap["rng"])
    if snap["cuda_rng"] is not None:
        torch.cuda.set_rng_state_all(snap["cuda_rng"])
