"""The LR finder on a built trainer, leaving no trace.

Each learning rate of the sweep (``netcoach.optim.lr_finder``) gets one optimizer step
over ``train.grad_accum`` micro-batches through the trainer's own step
(``Trainer.optimizer_step``: precision, channels_last, compile, accumulation, update
rules), so the suggestion is for the setup that is trained; the recorded loss is the
group's loss before its step (what ``steps.jsonl`` logs). Around the sweep the full
training state is captured and restored with ``netcoach.train.state`` (model,
optimizer, schedule, scaler, counters, loader position and generators, RNGs), so
training after the finder is bit-identical to training without it (a known complaint
about other finders is that running them changes the result).

Example:
    >>> trainer = netcoach.build_trainer(config)               # doctest: +SKIP
    >>> record = lr_find(trainer)                              # doctest: +SKIP
    >>> record["suggestion"], record["rule"]                   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
from typing import Optional, Sequence

from netcoach.optim.lr_finder import check_options, default_lrs, record, sweep
from netcoach.train.guard import NonFiniteError
from netcoach.train.state import capture, restore


def lr_find(trainer, lrs: Optional[Sequence[float]] = None, smoothing: float = 0.98,
            diverge: float = 4.0, rule: str = "min/10", min_steps: int = 10) -> dict:
    """Sweep the learning rate on the trainer's training data and suggest one.

    Args:
        trainer: a built ``Trainer`` (``netcoach.build_trainer``); restored afterwards.
        lrs: increasing learning rates, one optimizer step each (default ``default_lrs()``).
        smoothing: beta of the exponential moving average of the loss.
        diverge: stop once the smoothed loss exceeds ``diverge`` x its minimum so far.
        rule: how to pick the suggestion: ``"min/10"`` or ``"steepest"`` (see ``RULES``).
        min_steps: steps before the divergence test applies.

    Returns:
        ``{"lrs", "losses", "smoothed", "suggestion" (float or None), "rule", "stopped_early"}``.
    """
    check_options(rule, smoothing)
    lrs = list(lrs) if lrs is not None else default_lrs()
    trainer.check_pending()  # the snapshot must not hold a step a pending NaN check rejects
    snapshot, was_training = copy.deepcopy(capture(trainer)), trainer.model.training
    try:
        trainer.model.train()
        used, losses, smoothed, early = sweep(_stepper(trainer), lrs, smoothing, diverge, min_steps)
    finally:
        restore(trainer, snapshot)
        trainer.model.train(was_training)
    return record(used, losses, smoothed, early, rule)


def _stepper(trainer):
    """``step(lr)``: one optimizer step of ``trainer`` at ``lr``; its loss, inf when the NaN
    guard saw the loss or a gradient diverge."""
    batches = _batches(trainer.loaders["train"])

    def step(lr: float) -> float:
        group = [next(batches) for _ in range(trainer.grad_accum)]
        for param_group in trainer.optimizer.param_groups:
            param_group["lr"] = lr
        try:
            return float(trainer.optimizer_step(group))  # one sync per step is fine: 200 steps
        except NonFiniteError:
            return math.inf

    return step


def _batches(loader):
    """Batches forever: a new epoch (permutation) whenever the loader is exhausted."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("lr-find: the training loader yields no batches")
