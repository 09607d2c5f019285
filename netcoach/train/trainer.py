"""The training loop: one readable class, explicit hooks, an explicit stop flag.

Metrics accumulate as device tensors and are read once per epoch, so the hot loop
never waits for the device (no per-step host synchronisation).
"""

from __future__ import annotations

import time
from typing import Iterable, Optional

import torch
from torch import nn

from netcoach.data.loader import DeviceLoader
from netcoach.optim.regularize import UpdateRules
from netcoach.optim.schedules import Schedule
from netcoach.train.callbacks import Callback, CallbackList


class Trainer:
    """Trains ``model`` on ``loaders["train"]`` and evaluates on ``loaders["val"]``.

    State a callback may read: ``model``, ``optimizer``, ``schedule``, ``loaders``,
    ``epoch`` (completed epochs), ``step`` (optimizer steps), ``history`` (one logs
    dict per epoch); and set: ``stop_training``.

    Example:
        >>> trainer = Trainer(model, loaders, task, optimizer, schedule, epochs=5)  # doctest: +SKIP
        >>> history = trainer.fit()                                                # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, loaders: dict[str, DeviceLoader], task, optimizer,
                 schedule: Schedule, epochs: int, callbacks: Iterable[Callback] = (),
                 rules: Optional[UpdateRules] = None):
        if epochs < 1:
            raise ValueError(f"train.epochs must be >= 1, got {epochs}")
        self.model, self.loaders, self.task = model, loaders, task
        self.optimizer, self.schedule, self.epochs = optimizer, schedule, epochs
        self.rules = rules or UpdateRules(model, None)
        self.callbacks = CallbackList(callbacks)
        self.epoch = 0
        self.step = 0
        self.history: list[dict] = []
        self.stop_training = False

    # ------------------------------------------------------------------ the loop

    def fit(self) -> list[dict]:
        """Train until ``epochs`` are done or a callback sets ``stop_training``."""
        cbs = self.callbacks
        logs: dict = {}
        cbs.call("on_fit_start", self)
        while self.epoch < self.epochs and not self.stop_training:
            cbs.call("on_epoch_start", self)
            start = time.perf_counter()
            logs = {"epoch": self.epoch + 1, "lr": self.current_lr()}
            logs.update(self.train_epoch())
            logs["epoch_time"] = time.perf_counter() - start
            logs["samples_per_s"] = logs.pop("_samples") / logs["epoch_time"]
            logs.update(self.evaluate(self.loaders["val"], prefix="val"))
            cbs.call("on_eval_end", self, logs)
            self.schedule.after_epoch(logs)
            self.epoch += 1
            self.history.append(logs)
            cbs.call("on_epoch_end", self, logs)
        cbs.call("on_fit_end", self, logs)
        return self.history

    def train_epoch(self) -> dict:
        """One pass over the training loader; returns train_loss and train_<metric>."""
        self.model.train()
        device = self.loaders["train"].split.x.device
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        per_batch = self.callbacks.has("on_batch_end")
        for x, y in self.loaders["train"]:
            loss, out = self.train_step(x, y)
            with torch.no_grad():
                loss_sum += loss.detach() * len(x)
                correct += self.task.correct(out, y)
            seen += len(x)
            if per_batch:
                self.callbacks.call("on_batch_end", self, {"loss": loss.detach(), "size": len(x)})
        metric = self.task.metric
        # The one host synchronisation of the epoch.
        return {"train_loss": (loss_sum / seen).item(), f"train_{metric}": correct.item() / seen,
                "_samples": seen}

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward, update; returns (loss, outputs)."""
        out = self.model(x)
        loss = self.task.loss(out, y)
        objective = loss + self.rules.penalty(self.model) if self.rules.has_penalty else loss
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.rules.before_step(self.step)
        self.optimizer.step()
        self.rules.after_step()
        self.schedule.after_batch()
        self.step += 1
        return loss, out

    @torch.no_grad()
    def evaluate(self, loader: DeviceLoader, prefix: str, model: Optional[nn.Module] = None) -> dict:
        """Mean loss and metric over ``loader`` in eval mode, as ``{prefix}_loss`` etc."""
        model = model or self.model
        was_training = model.training
        model.eval()
        device = loader.split.x.device
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for x, y in loader:
            out = model(x)
            loss_sum += self.task.loss(out, y).double() * len(x)
            correct += self.task.correct(out, y)
        model.train(was_training)
        n = len(loader.split)
        return {f"{prefix}_loss": (loss_sum / n).item(), f"{prefix}_{self.task.metric}": correct.item() / n}

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])
