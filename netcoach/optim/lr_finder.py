"""Learning-rate finder (Smith 2017; the course's lecture 000 recipe), leaving no trace.

One optimizer step per learning rate from an exponentially increasing sequence
(default ``10 ** linspace(-8, 0, 200)`` as in the course), each over
``train.grad_accum`` micro-batches through the trainer's own step
(``Trainer.optimizer_step``: precision, channels_last, compile, accumulation,
update rules), so the suggestion is for the setup that is trained. It records the
group's loss before its step (what ``steps.jsonl`` logs), an exponentially
smoothed, bias-corrected loss, and stops early once the smoothed loss diverges.
Around the sweep the full training state is captured and restored with
``netcoach.train.state`` (model, optimizer, schedule, scaler, counters, loader
position and generators, RNGs), so training after the finder is bit-identical to
training without it (a known complaint about other finders is that running them
changes the result).

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

from netcoach.train.guard import NonFiniteError
from netcoach.train.state import capture, restore

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
        lrs: increasing learning rates, one optimizer step each (default :func:`default_lrs`).
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
    trainer.check_pending()  # the snapshot must not hold a step a pending NaN check rejects
    snapshot, was_training = copy.deepcopy(capture(trainer)), trainer.model.training
    try:
        used, losses, smoothed, early = _sweep(trainer, lrs, smoothing, diverge, min_steps)
    finally:
        restore(trainer, snapshot)
        trainer.model.train(was_training)
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
    trainer.model.train()
    used, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    batches = _batches(trainer.loaders["train"])
    for i, lr in enumerate(lrs):
        group = [next(batches) for _ in range(trainer.grad_accum)]
        for param_group in trainer.optimizer.param_groups:
            param_group["lr"] = lr
        used.append(float(lr))
        try:
            value = float(trainer.optimizer_step(group))  # one sync per step is fine: 200 steps
        except NonFiniteError:  # the NaN guard saw the loss or a gradient diverge
            value = math.inf
        losses.append(value)
        if not math.isfinite(value):
            smoothed.append(math.inf)
            return used, losses, smoothed, True
        avg = beta * avg + (1 - beta) * value
        smoothed.append(avg / (1 - beta ** (i + 1)))    # bias-corrected moving average
        best = min(best, smoothed[-1])
        if i >= min_steps and smoothed[-1] > diverge * best:
            return used, losses, smoothed, True
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
