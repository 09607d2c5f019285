"""The training loop: one readable class, explicit hooks, an explicit stop flag.

Metrics accumulate as device tensors and are read once per epoch, so the hot loop
never waits for the device (no per-step host synchronisation); ``epoch_sums.EpochSums``
holds them and the unfinished epoch a resume continues. A task with whole-split metrics
(AUC, F1, R²) gets the epoch's outputs, gathered on the device and moved once. Where a
micro-batch sits in its gradient-accumulation group is ``accumulation.accum_position``;
autocast and the gradient scaler come from ``precision.precision_tools``. The NaN guard's
check of the loss is immediate on the CPU (reading a CPU scalar costs nothing) and
asynchronous on CUDA (``guard.LossWatch``: pinned copies polled with events).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Iterable, Optional

import torch
from torch import nn

from netcoach.data.loader import DeviceLoader
from netcoach.distributed import reduce as dist_reduce
from netcoach.distributed.setup import wrap as ddp_wrap
from netcoach.optim.regularize import UpdateRules
from netcoach.optim.schedules import Schedule
from netcoach.train.accumulation import accum_position
from netcoach.train.callbacks import Callback, CallbackList
from netcoach.train.epoch_sums import EpochSums, add_sums, add_to_group, means, on_host
from netcoach.train.guard import LossWatch, NonFiniteError, nonfinite_grads
from netcoach.train.precision import precision_tools
from netcoach.utils.runtime import Runtime


class Trainer:
    """Trains ``model`` on ``loaders["train"]`` and evaluates on ``loaders["val"]``.

    State a callback may read: ``model``, ``optimizer``, ``schedule``, ``loaders``,
    ``epoch`` (completed epochs), ``step`` (optimizer steps), ``history`` (one logs
    dict per epoch), ``step_records`` (the finished epoch's per-step lr and loss),
    ``failure`` (the NaN guard's message), ``interrupted``; and set: ``stop_training``
    (or call ``interrupt()`` to stop after the current step, mid-epoch, resumably).

    Args:
        grad_accum: micro-batches per optimizer step; each micro-batch loss is weighted
            by its share of the group's samples, so the update equals one big batch's.
        precision: "fp32", "bf16" (autocast) or "fp16" (autocast + GradScaler, CUDA only).
        channels_last: convert 4-D inputs to channels-last (the model is converted by the caller).
        compile: run the forward pass through ``torch.compile``.
        guard: the NaN guard (``netcoach.train.guard.NanGuard``) or None for no checks.
        data, config: the ``DataBundle`` and ``Config`` the trainer was built from, if any.
        transfer: the run's ``netcoach.transfer.TransferSetup`` (its freezing callbacks and
            summary notes), or None.
        runtime: this process's device and rank (default: one process on the model's device).
            With several processes the trainer trains through DistributedDataParallel
            (``model`` stays the plain module), reduces the epoch's sums over the ranks,
            and takes rank 0's stop decision.

    Example:
        >>> trainer = Trainer(model, loaders, task, optimizer, schedule, epochs=5)  # doctest: +SKIP
        >>> history = trainer.fit()                                                # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, loaders: dict[str, DeviceLoader], task, optimizer,
                 schedule: Schedule, epochs: int, callbacks: Iterable[Callback] = (),
                 rules: Optional[UpdateRules] = None, *, grad_accum: int = 1,
                 precision: str = "fp32", channels_last: bool = False, compile: bool = False,
                 guard=None, data=None, config=None, runtime: Optional[Runtime] = None, transfer=None):
        if epochs < 1:
            raise ValueError(f"train.epochs must be >= 1, got {epochs}")
        if grad_accum < 1:
            raise ValueError(f"train.grad_accum must be >= 1, got {grad_accum}")
        self.model, self.loaders, self.task = model, loaders, task
        self.optimizer, self.schedule, self.epochs = optimizer, schedule, epochs
        self.rules = rules or UpdateRules(model, None)
        self.callbacks = CallbackList(callbacks)
        self.grad_accum, self.channels_last, self.guard = grad_accum, channels_last, guard
        self.precision, self.compiled = precision, compile  # for tools that build a twin trainer
        self.device = next(model.parameters()).device
        self.data, self.config = data, config  # what the run was built from (preflight reads them)
        self.transfer = transfer
        self.runtime = runtime or Runtime(self.device)
        self.autocast, self.scaler = precision_tools(precision, self.device)
        self._ddp = ddp = ddp_wrap(model, self.runtime)  # None for one process
        self.forward = torch.compile(ddp or model) if compile else (ddp or model)
        # evaluation runs the plain module: no collective, so ranks may see uneven shares
        self.eval_forward = self.forward if ddp is None else (torch.compile(model) if compile else model)
        self.epoch = 0
        self.step = 0
        self.history: list[dict] = []
        self.step_records: list[dict] = []
        self.stop_training = False
        self.interrupted = False  # ``interrupt()`` was called
        self.failure: Optional[str] = None
        self._step_lr = self.current_lr()
        self.lr_scale = 1.0  # product of the NaN guard's LR reductions
        self._partial: Optional[EpochSums] = None  # the sums of the epoch in progress
        self._epoch_start = time.perf_counter()
        self._watch = LossWatch(self.device)  # the NaN guard's per-step loss check

    def interrupt(self) -> None:
        """Stop after the current optimizer step, leaving the run resumable (mid-epoch too).
        Safe to call from a signal handler: it only sets two flags."""
        self.interrupted = True
        self.stop_training = True

    def set_callbacks(self, callbacks: Iterable[Callback]) -> None:
        """Replace the callbacks (the API adds the run's built-in ones once the run folder exists)."""
        self.callbacks = CallbackList(callbacks)

    # ------------------------------------------------------------------ the loop

    def fit(self) -> list[dict]:
        """Train until ``epochs`` are done or a callback sets ``stop_training``."""
        cbs = self.callbacks
        logs: dict = {}
        cbs.call("on_fit_start", self)
        while self.epoch < self.epochs and not self.stop_training:
            try:
                logs = self.run_epoch()
            except NonFiniteError as err:
                if self.guard is None or not self.guard.recover(self, err):
                    self.failure = self.failure or str(err)
                    self.stop_training = True
                    if self._partial is not None:  # the diverging epoch's steps, up to the failure
                        self.step_records = self._step_records(self._partial.lrs, self._partial.loss_values())
            if self.runtime.distributed:
                self._follow_main()
        cbs.call("on_fit_end", self, logs)
        return self.history

    def _follow_main(self) -> None:
        """Every rank takes rank 0's decisions of the epoch: whether to stop (early stopping,
        the NaN guard, a callback's ``stop_training``) and the learning rates (plateau,
        rollback), so all ranks stop together and keep identical optimizers."""
        self.stop_training = dist_reduce.broadcast_flag(self.stop_training)
        lrs = dist_reduce.broadcast_floats([float(g["lr"]) for g in self.optimizer.param_groups])
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr

    def run_epoch(self) -> dict:
        """Train one epoch, evaluate, step the epoch schedule and call the epoch hooks."""
        cbs = self.callbacks
        cbs.call("on_epoch_start", self)
        logs = {"epoch": self.epoch + 1, "lr": self._partial.lr0 if self._partial else self.current_lr()}
        train_logs = self.train_epoch()
        if train_logs is None:  # interrupted: no evaluation or epoch hooks, it continues on resume
            return logs
        logs.update(train_logs)
        logs.update(self.evaluate(self.loaders["val"], prefix="val"))
        cbs.call("on_eval_end", self, logs)
        self.schedule.after_epoch(logs)
        self.epoch += 1
        self.history.append(logs)
        cbs.call("on_epoch_end", self, logs)
        return logs

    def train_epoch(self) -> Optional[dict]:
        """One pass over the training loader; returns train_loss, train_<metric> per task metric,
        epoch_time and samples_per_s, and fills ``step_records`` (None when interrupted)."""
        self.model.train()
        loader = self.loaders["train"]
        if self._partial is None:
            self._partial = EpochSums(self.task, self.current_lr(), bool(self.task.epoch_metric_names))
        acc = self._partial
        self._epoch_start = time.perf_counter() - acc.elapsed
        per_batch = self.callbacks.has("on_batch_end")
        k, world = self.grad_accum, self.runtime.world_size
        shared = k > 1 or world > 1
        alone = world == 1  # an interrupt leaves mid-epoch only with one process
        group_loss, group_n = None, 0
        first = stepping = True
        weight = record = 1.0
        for x, y in loader:
            n = len(x)
            if shared:
                first, stepping, weight, record = accum_position(loader, loader.position - 1, n, k, world)
            loss, out = self.train_step(x, y, weight, first, stepping)
            acc.add_batch(out.detach(), y)
            group_loss = add_to_group(group_loss, loss, record, first)
            group_n = n if first else group_n + n
            if stepping:
                acc.add_step(group_loss, group_n, self._step_lr)
            if per_batch:
                self.callbacks.call("on_batch_end", self, {"loss": loss.detach(), "size": n,
                                                           "stepped": stepping})
            if self.interrupted and stepping and alone:
                # leave after this optimizer step, the epoch's sums kept in ``partial_state``
                # for the checkpoint: a resume finishes this very epoch
                return None
        self.check_pending()
        return self._close_epoch(acc)

    def _close_epoch(self, acc: EpochSums) -> dict:
        """The one host synchronisation of the epoch: read the accumulated sums."""
        self._partial = None
        acc.score()
        elapsed = time.perf_counter() - self._epoch_start
        loss_values, sizes, sums = acc.loss_values(), acc.sizes, acc.sums
        if self.runtime.distributed:  # every rank's steps and sums: the epoch of the whole job
            loss_values, sizes, sums = dist_reduce.reduce_epoch(loss_values, sizes, sums)
        seen = sum(sizes)
        loss_sum = math.fsum(v * n for v, n in zip(loss_values, sizes))
        self.step_records = self._step_records(acc.lrs, loss_values)
        logs = {"train_loss": loss_sum / max(seen, 1)}
        logs.update(means(sums, seen, "train"))
        if acc.gathered:
            found = self.task.epoch_metrics(*self.host_outputs(acc.gathered, acc.gathered_targets,
                                                                self.runtime.distributed))
            logs.update({f"train_{k}": v for k, v in found.items()})
        logs.update({"epoch_time": elapsed, "samples_per_s": seen / elapsed if elapsed > 0 else 0.0})
        return logs

    def _step_records(self, lrs: list, loss_values: list[float]) -> list[dict]:
        """One ``{"step", "epoch", "lr", "loss"}`` per optimizer step of the current epoch."""
        first_step = self.step - len(loss_values) + 1
        return [{"step": first_step + i, "epoch": self.epoch + 1, "lr": lr, "loss": v}
                for i, (lr, v) in enumerate(zip(lrs, loss_values))]

    def optimizer_step(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """One optimizer step over a group of micro-batches, outside the epoch loop.

        The same step as training (``train_step``: precision, channels_last, compile, the
        NaN guard's loss check, the update rules, the schedule), with each micro-batch
        weighted by its share of the group's samples as in ``train_epoch``. The LR finder
        and the overfit check use it, so they see the setup that is trained. Returns the
        group's loss (a device tensor, before the update) as ``step_records`` reports it.
        """
        if not batches:
            raise ValueError("optimizer_step needs at least one micro-batch")
        total = sum(len(x) for x, _ in batches)
        group_loss = None
        for i, (x, y) in enumerate(batches):
            weight = 1.0 if len(batches) == 1 else len(x) / total
            loss, _ = self.train_step(x, y, weight, first=i == 0, stepping=i == len(batches) - 1)
            group_loss = add_to_group(group_loss, loss, weight, i == 0)
        return group_loss

    def train_step(self, x: torch.Tensor, y: torch.Tensor, weight: float = 1.0,
                   first: bool = True, stepping: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward and (when ``stepping``) the update; returns (loss, outputs).

        With gradient accumulation the caller passes each micro-batch's ``weight``;
        gradients are cleared on the ``first`` micro-batch of a group, so callbacks
        can still read the gradients of the last step in ``on_batch_end``.
        """
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.autocast is None:
            out = self.forward(x)
            loss = self.task.loss(out, y)
        else:
            with self.autocast():
                out = self.forward(x)
                loss = self.task.loss(out, y)
        if self.guard is not None:
            self._check_loss(loss, x)
        objective = loss + self.rules.penalty(self.model) if self.rules.has_penalty else loss
        if weight != 1.0:
            objective = objective * weight
        if first:
            self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            objective = self.scaler.scale(objective)
        if stepping or self._ddp is None:
            objective.backward()
        else:  # DDP averages gradients only on a group's last micro-batch (fewer all-reduces)
            with self._ddp.no_sync():
                objective.backward()
        if stepping:
            self._update()
        return loss, out

    def _update(self) -> None:
        """The optimizer step with the update rules around it."""
        self._step_lr = self.optimizer.param_groups[0]["lr"]
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # rules (clipping) see true gradients
        self.rules.before_step(self.step)
        if self.guard is not None and self.guard.check_grads and self.scaler is None:
            bad = nonfinite_grads(self.model)
            if bad:
                raise NonFiniteError("gradient", bad, self)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skips steps with inf/NaN gradients, by design
            self.scaler.update()
        else:
            self.optimizer.step()
        self.rules.after_step()
        self.schedule.after_batch()
        self.step += 1

    def _check_loss(self, loss: torch.Tensor, x: torch.Tensor) -> None:
        """NaN guard on the loss: immediate on the CPU, asynchronous on CUDA (``LossWatch``)."""
        if self.runtime.distributed:  # one rank's NaN stops every rank at this step
            loss = torch.where(dist_reduce.any_rank(~torch.isfinite(loss.detach())) > 0,
                               torch.full_like(loss, math.nan), torch.zeros_like(loss))
        if not self._watch.watch(loss):
            raise NonFiniteError("loss", [], self, inputs=x if self._watch.mode == "now" else None)

    def check_pending(self) -> None:
        """Wait for the loss checks still in flight on an accelerator (epoch end, checkpoints)."""
        if self.guard is not None and not self._watch.flush():
            raise NonFiniteError("loss", [], self)

    @torch.no_grad()
    def evaluate(self, loader: DeviceLoader, prefix: str, model: Optional[nn.Module] = None) -> dict:
        """Mean loss and the task's metrics over ``loader`` in eval mode, as ``{prefix}_loss``
        and ``{prefix}_<metric>`` (one host read at the end). A task with epoch metrics
        (AUC, F1, R²) gets all outputs of the split, kept on the device and moved once."""
        model = model or self.eval_forward
        was_training = model.training
        model.eval()
        device = loader.split.x.device
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        sums: dict[str, torch.Tensor] = {}
        gathered: Optional[list[torch.Tensor]] = [] if self.task.epoch_metric_names else None
        gathered_targets: list[torch.Tensor] = []
        for x, y in loader:
            if self.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with self.autocast() if self.autocast is not None else contextlib.nullcontext():
                out = model(x)
            loss_sum += self.task.loss(out.float(), y).double() * len(x)
            add_sums(sums, self.task.metric_sums(out, y))
            if gathered is not None:
                gathered.append(out.detach())
                gathered_targets.append(y)
        model.train(was_training)
        n = len(loader.split)
        if getattr(loader, "world_size", 1) > 1:  # each rank scored its share: add them up
            sums = {k: sums.get(k, torch.zeros((), device=device)) for k in self.task.metric_names}
            total = dist_reduce.all_reduce_dict({"loss": loss_sum, **sums})
            loss_sum, sums = total.pop("loss"), total
        logs = {f"{prefix}_loss": (loss_sum / n).item(), **means(sums, n, prefix)}
        if gathered is not None:
            found = self.task.epoch_metrics(*self.host_outputs(gathered, gathered_targets,
                                                                getattr(loader, "world_size", 1) > 1))
            logs.update({f"{prefix}_{k}": v for k, v in found.items()})
        return logs

    @staticmethod
    def host_outputs(outs: list[torch.Tensor], targets: list[torch.Tensor],
                      distributed: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """All outputs and targets of a split on the host: this process's, or with several
        processes every rank's share (in rank order; the whole-split metrics do not depend
        on the order of the samples)."""
        out, y = on_host(outs, targets)
        if distributed:
            parts = [p for _, p in dist_reduce.all_gather_state({}, {"outputs": out, "targets": y})
                     if p["outputs"].numel()]
            out, y = torch.cat([p["outputs"] for p in parts]), torch.cat([p["targets"] for p in parts])
        return out, y

    def inference_precision(self):
        """The training step's autocast for evaluation outside the loop (the final test
        split, TTA, weight averages): a bf16 run is tested as fast as it trains."""
        return self.autocast() if self.autocast is not None else contextlib.nullcontext()

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ------------------------------------------------------------------ resume support

    def elapsed(self) -> float:
        """Seconds spent in the current (unfinished) epoch."""
        return time.perf_counter() - self._epoch_start if self._partial is not None else 0.0

    def partial_state(self) -> dict:
        """The sums of the unfinished epoch (empty at an epoch boundary), for a checkpoint."""
        state = self._partial.state() if self._partial is not None else {}
        if state:
            state["elapsed"] = self.elapsed()
        return state

    def load_partial_state(self, state: dict, device: torch.device, elapsed: float = 0.0) -> None:
        """Continue an unfinished epoch from ``partial_state``'s sums (see ``EpochSums.from_state``)."""
        self._partial = EpochSums.from_state(state, self.task, device, elapsed) if state else None
