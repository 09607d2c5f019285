"""Learning-rate finder (Smith 2017; the course's lecture 000 recipe): the sweep and the rule.

One optimizer step per learning rate from an exponentially increasing sequence
(default ``10 ** linspace(-8, 0, 200)`` as in the course). ``sweep`` records the
loss of each step, an exponentially smoothed, bias-corrected loss, and stops early
once the smoothed loss diverges; ``suggest`` picks a learning rate from the curve.
Both are pure: the step is a function of the learning rate, so this module knows no
trainer. ``netcoach.train.lr_find.lr_find`` drives the sweep through the trainer's own
step and leaves no trace.

Written here: torch has no LR finder.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

RULES = {
    "min/10": "lr at the minimum of the smoothed loss, divided by 10",
    "steepest": "lr where the smoothed loss falls fastest against log10(lr), before its minimum",
}


def default_lrs(start_exp: float = -8.0, end_exp: float = 0.0, num: int = 200) -> list[float]:
    """``10 ** linspace(start_exp, end_exp, num)`` (the course: -8, 0, 200)."""
    if num < 2 or end_exp <= start_exp:
        raise ValueError(f"lr-find needs num >= 2 and end_exp > start_exp, got {num}, {start_exp}, {end_exp}")
    return [float(v) for v in 10.0 ** np.linspace(start_exp, end_exp, num)]


def check_options(rule: str, smoothing: float) -> None:
    """The rule must be one of ``RULES`` and the smoothing a moving-average beta in [0, 1)."""
    if rule not in RULES:
        raise ValueError(f"unknown lr-find rule '{rule}'; available: {', '.join(RULES)}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")


def sweep(step: Callable[[float], float], lrs: Sequence[float], beta: float = 0.98,
          diverge: float = 4.0, min_steps: int = 10) -> tuple[list, list, list, bool]:
    """Call ``step(lr)`` (the loss of one optimizer step at ``lr``; inf when it diverged)
    for each lr until the smoothed loss exceeds ``diverge`` x its minimum (after
    ``min_steps``) or turns non-finite. Returns ``(lrs used, losses, smoothed, stopped early)``."""
    used, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    for i, lr in enumerate(lrs):
        used.append(float(lr))
        value = step(lr)
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


def record(used: Sequence[float], losses: Sequence[float], smoothed: Sequence[float], early: bool,
           rule: str) -> dict:
    """The finder's result: ``{"lrs", "losses", "smoothed", "suggestion" (float or None),
    "rule", "stopped_early"}`` (what ``lr_find.json`` holds)."""
    suggestion = suggest(used, smoothed, rule)
    text = RULES[rule] + ("" if suggestion is not None else " (no decrease found: no suggestion)")
    return {"lrs": list(used), "losses": list(losses), "smoothed": list(smoothed), "suggestion": suggestion,
            "rule": text, "stopped_early": early}


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
