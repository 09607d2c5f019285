"""The NaN/Inf guard: stop (or roll back) the moment the loss or a gradient stops
being a finite number, and say what went wrong and why it usually happens.

The trainer checks the loss every step (see ``Trainer._check_loss``) and, with
``train.check_grads``, every gradient before the optimizer step. A failure raises
``NonFiniteError`` inside the loop; ``Trainer.fit`` hands it to ``NanGuard.recover``,
which either stops the run (the last good checkpoint on disk was written before
the failure and is never overwritten by bad weights) or rolls back to the last
good state with a lower learning rate.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from netcoach.train.callbacks import Callback
from netcoach.train.checkpoint import flatten, unflatten
from netcoach.train.state import capture, restore

CAUSES = ("Likely causes: a learning rate too high (lower optim.lr or add warmup), bad input data "
          "(NaN/Inf in the inputs or labels), or numerical precision (fp16 overflow: try "
          "train.precision bf16 or fp32; a log or division of zero in a custom loss).")


def nonfinite_grads(model: nn.Module) -> list[str]:
    """Names of parameters whose gradient holds NaN or Inf (one sync for all of them)."""
    named = [(n, p.grad) for n, p in model.named_parameters() if p.grad is not None]
    if not named:
        return []
    flags = torch.stack([torch.isfinite(g).all() for _, g in named]).tolist()
    return [n for (n, _), ok in zip(named, flags) if not ok]


def nonfinite_params(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]


class NonFiniteError(ArithmeticError):
    """The loss or a gradient is NaN/Inf; the message says which and suggests causes."""

    def __init__(self, what: str, params: list[str], trainer, inputs: Optional[torch.Tensor] = None):
        self.what, self.params = what, params
        self.epoch, self.step = trainer.epoch + 1, trainer.step
        super().__init__(self._message(trainer, inputs))

    def _message(self, trainer, inputs) -> str:
        where = f"at epoch {self.epoch}, optimizer step {self.step + 1}"
        if self.what == "gradient":
            head = f"non-finite gradient of parameter(s) {', '.join(self.params)} {where}"
        else:
            head = f"non-finite loss {where}"
        notes = []
        if inputs is not None and not torch.isfinite(inputs).all():
            notes.append("the input batch itself contains NaN/Inf (bad data)")
        broken = nonfinite_params(trainer.model)
        if broken:
            notes.append(f"parameters already non-finite: {', '.join(broken[:5])}"
                         f"{' ...' if len(broken) > 5 else ''} (a gradient was NaN/Inf at the step before)")
        if self.what == "loss" and not broken:
            bad = nonfinite_grads(trainer.model)
            if bad:
                notes.append(f"gradients non-finite: {', '.join(bad[:5])}")
        detail = ("; ".join(notes) + ". ") if notes else ""
        return f"{head}. {detail}{CAUSES}"


class NanGuard(Callback):
    """What to do when the trainer meets a non-finite loss or gradient.

    Args:
        mode: "stop" (end the run, keep the last good checkpoint) or "rollback"
            (restore the last good state - captured in memory at each epoch end -
            multiply the learning rate by ``lr_factor`` and continue).
        check_grads: also check every gradient before each optimizer step.
        max_rollbacks: rollbacks allowed before the run stops anyway.
    """

    state_key = "nan_guard"

    def __init__(self, mode: str = "stop", check_grads: bool = False, lr_factor: float = 0.5,
                 max_rollbacks: int = 3):
        if mode not in ("stop", "rollback"):
            raise ValueError(f"train.nan_guard: unknown {mode!r}; valid: stop, rollback, off")
        if not 0 < lr_factor < 1:
            raise ValueError(f"train.rollback_lr_factor must be in (0, 1), got {lr_factor}")
        self.mode, self.check_grads = mode, check_grads
        self.lr_factor, self.max_rollbacks = lr_factor, max_rollbacks
        self.rollbacks = 0
        self.events: list[str] = []
        self._good: Optional[dict] = None

    def state_dict(self) -> dict:
        return {"rollbacks": self.rollbacks, "events": list(self.events)}

    def load_state_dict(self, state: dict) -> None:
        self.rollbacks, self.events = int(state["rollbacks"]), list(state["events"])

    def on_fit_start(self, trainer) -> None:
        if self.mode == "rollback":
            self._remember(trainer)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        if self.mode == "rollback":
            self._remember(trainer)

    def _remember(self, trainer) -> None:
        trainer.check_pending()
        tensors: dict = {}
        # flatten copies every tensor: the live optimizer state is updated in place
        self._good = unflatten(flatten(capture(trainer), tensors), tensors)

    def recover(self, trainer, err: NonFiniteError) -> bool:
        """Handle ``err``; True when training may continue (after a rollback)."""
        if self.mode != "rollback" or self._good is None or self.rollbacks >= self.max_rollbacks:
            extra = f" (gave up after {self.rollbacks} rollback(s))" if self.mode == "rollback" else ""
            trainer.failure = f"{err}{extra}"
            return False
        rollbacks, events = self.rollbacks + 1, self.events
        good_scale = self._good.get("lr_scale", 1.0)
        restore(trainer, self._good)  # also restores this callback's saved state: keep our count
        self.rollbacks, self.events = rollbacks, events
        new_scale = self.lr_factor ** self.rollbacks  # cumulative over all rollbacks
        scale_lr(trainer, new_scale / good_scale)
        trainer.lr_scale = new_scale
        self.events.append(f"rollback {self.rollbacks}: {err.what} non-finite at epoch {err.epoch}; "
                           f"restored epoch {trainer.epoch}, learning rate x{new_scale:g}")
        return True


def scale_lr(trainer, factor: float) -> None:
    """Multiply every learning-rate value of the optimizer and its scheduler by ``factor``."""
    for group in trainer.optimizer.param_groups:
        for key in ("lr", "initial_lr", "max_lr", "min_lr"):
            if isinstance(group.get(key), (int, float)):
                group[key] *= factor
    scheduler = getattr(trainer.schedule, "scheduler", None)
    for attr in ("base_lrs", "_last_lr"):
        values = getattr(scheduler, attr, None)
        if isinstance(values, list):
            setattr(scheduler, attr, [v * factor for v in values])


class LossWatch:
    """Checks that each step's loss is finite, without stalling an accelerator.

    On the CPU the check is immediate (reading a CPU scalar costs nothing and no
    step is taken with a NaN loss). On CUDA each step's ``isfinite(loss)`` flag is
    copied asynchronously into a small ring of pinned host buffers, with an event;
    ``poll`` reads the flags whose events have completed (``Event.query`` never
    blocks), so a NaN is seen as soon as the device has computed it - normally
    within a step - and the host never waits for the device. Only when the device
    falls ``RING`` steps behind does the host wait for the oldest flag.
    ``flush`` (epoch end, before a checkpoint) waits for all of them. Other
    devices wait for the previous step's flag.
    """

    RING = 8

    def __init__(self, device: torch.device):
        self.device = device
        self.mode = {"cpu": "now", "cuda": "async"}.get(device.type, "lagged")
        self.pending: list = []
        if self.mode == "async":
            self.free = [torch.empty((), dtype=torch.bool, pin_memory=True) for _ in range(self.RING)]

    def watch(self, loss: torch.Tensor) -> bool:
        """Record this step's loss; False when a non-finite loss has been seen."""
        if self.mode == "now":
            return math.isfinite(loss.item())
        if self.mode == "lagged":
            ok = self.flush()
            self.pending.append(loss.detach())
            return ok
        if not self.free:
            self.pending[0][1].synchronize()  # the device is RING steps behind: wait for the oldest
        ok = self.poll()
        host = self.free.pop()
        host.copy_(torch.isfinite(loss.detach()), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.pending.append((host, event))
        return ok

    def poll(self) -> bool:
        """Read the flags that are ready; False when one of them is non-finite."""
        ok = True
        while self.pending and self.pending[0][1].query():
            host, _ = self.pending.pop(0)
            ok = ok and bool(host.item())
            self.free.append(host)
        return ok

    def flush(self) -> bool:
        """Wait for every pending flag; False when one of them is non-finite."""
        if self.mode == "async":
            for _, event in self.pending:
                event.synchronize()
            return self.poll()
        pending, self.pending = self.pending, []
        return all(math.isfinite(p.item()) for p in pending)

    def reset(self) -> None:
        """Forget pending flags (after a rollback they belong to abandoned steps)."""
        self.flush()
