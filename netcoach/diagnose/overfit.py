"""Overfit one batch: a model and pipeline that work can memorise a handful of samples.

The course's recipe: train on one small batch until the loss is ~0 / accuracy 100%;
if that fails, the pipeline or the model cannot learn (detached outputs, frozen or
missing parameters, a broken loss). Runs on a deep copy with its own Adam optimizer
(the recipe's default choice) and a constant lr, so the real model and optimizer are
untouched, but through the training step itself (``Trainer.train_step``) with the
run's precision, channels_last, compile and NaN guard, so it tests the step that is
trained. Regularization stays off: the point is to memorise the batch.
"""

from __future__ import annotations

import copy
import time
from typing import Optional

import torch
from torch import nn

from netcoach.diagnose.checks import result
from netcoach.optim.schedules import Schedule
from netcoach.train.guard import NonFiniteError
from netcoach.train.trainer import Trainer

LOSS_TARGET = 0.1  # "near-zero" loss; far below ln K for any K >= 2
CHECK_EVERY = 5    # read loss/accuracy every few steps (each read is a device sync)
STALLED = 0.5      # a loss still above half its initial value after the budget: not learning


def _without_dropout(model: nn.Module) -> nn.Module:
    """Training mode (batch-norm uses batch statistics) but dropout off, so the batch can be fit."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()
    return model


def overfit_trainer(trainer: Trainer, model: nn.Module, lr: float) -> Trainer:
    """A trainer for ``model`` with its own Adam and a constant lr, stepping as ``trainer`` does."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    return Trainer(model, {}, trainer.task, opt, Schedule(None, optimizer=opt), epochs=1,
                   precision=trainer.precision, channels_last=trainer.channels_last,
                   compile=trainer.compiled, guard=trainer.guard)


def loss_target(task, initial_loss: float) -> float:
    """The loss that counts as memorised: ``LOSS_TARGET`` for a task with an accuracy
    (which must reach 100% too); for a task judged by its loss alone (regression,
    autoencoders) also at most ``LOSS_TARGET`` of the batch's initial loss, since its
    scale follows the targets': an autoencoder of [0, 1] pixels starts near 0.25, where
    0.1 is a 2.5x drop and far from memorised."""
    if task.accuracy_like:
        return LOSS_TARGET
    return min(LOSS_TARGET, LOSS_TARGET * initial_loss)


def check_overfit_batch(trainer: Trainer, x: torch.Tensor, y: torch.Tensor, steps: int,
                        lr: float, seconds: Optional[float] = None) -> dict:
    """Train a copy of ``trainer.model`` on the batch ``(x, y)`` for at most ``steps`` Adam steps.

    Pass when training accuracy on the batch reaches 100% with a loss at ``loss_target``
    (reporting the step it happened); warn when it gets there only partly (100% accuracy
    with a higher loss, or the loss at least halved); fail when the loss stays above half its initial
    value. Parameters that get no gradient are reported as well. With ``seconds`` the
    check also stops when that time is spent; a model still learning then is a warning,
    never a failure (the budget, not the model, ended it).
    """
    deadline = None if seconds is None else time.perf_counter() + seconds
    name, task = "overfit_batch", trainer.task
    net = _without_dropout(copy.deepcopy(trainer.model))
    if not any(p.requires_grad for p in net.parameters()):
        return result(name, "fail", "the model has no trainable parameters (all frozen)", steps=0)
    if not task.loss(net(x), y).requires_grad:
        return result(name, "fail", "the loss does not depend on any trainable parameter "
                      "(output detached from the graph?)", steps=0)
    twin = overfit_trainer(trainer, net, lr)
    no_grad: list[str] = []
    first = last = None
    for step in range(1, steps + 1):
        try:
            loss, out = twin.train_step(x, y)
        except NonFiniteError as err:
            return result(name, "fail", f"the loss or a gradient became non-finite while fitting "
                          f"one batch ({err}); try a lower diagnose.overfit_lr", steps=step, lr=lr)
        if step == 1:
            no_grad = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
        out_of_time = deadline is not None and step % CHECK_EVERY == 0 and time.perf_counter() > deadline
        if step % CHECK_EVERY == 0 or step == 1 or step == steps or out_of_time:
            acc = _batch_accuracy(task, out.detach(), y)
            last = (step, float(loss.detach()), acc)
            first = first or last
            if acc >= 1.0 and last[1] <= loss_target(task, first[1]) or out_of_time:
                break
    try:
        twin.check_pending()  # on an accelerator the loss checks are asynchronous
    except NonFiniteError as err:
        return result(name, "fail", f"the loss became non-finite while fitting one batch ({err})",
                      steps=last[0], lr=lr)
    step, loss_v, acc = last
    words = task.preflight_words
    details = dict(steps=step, budget=steps, batch=len(y), loss=loss_v, acc=acc,
                   initial_loss=first[1], lr=lr, params_without_grad=no_grad)
    suffix = f"; {len(no_grad)} parameter tensors get no gradient ({', '.join(no_grad[:3])})" if no_grad else ""
    if acc >= 1.0 and loss_v <= loss_target(task, first[1]):
        return result(name, "warn" if no_grad else "pass",
                      f"{words.fitted} {len(y)} samples in {step} steps (loss {first[1]:.3f} -> "
                      f"{loss_v:.4f}{_acc_text(task, acc)})" + suffix, **details)
    if step < steps:  # stopped before memorising: only the time budget ends the loop early
        return result(name, "warn", f"stopped by the time budget (diagnose.budget_s) after {step} of "
                      f"{steps} steps (loss {first[1]:.3f} -> {loss_v:.3f}{_acc_text(task, acc)}); "
                      "`netcoach check` runs it in full" + suffix, **details)
    if acc >= 1.0 and task.accuracy_like:
        return result(name, "warn", f"reached 100% accuracy on {len(y)} samples but loss is still "
                      f"{loss_v:.3f} after {step} steps" + suffix, **details)
    if loss_v <= STALLED * first[1]:
        return result(name, "warn", f"learning, but did not {words.fit} {len(y)} samples in {steps} "
                      f"steps (loss {first[1]:.3f} -> {loss_v:.3f}{_acc_text(task, acc)}): slow units or "
                      "little capacity" + suffix, **details)
    return result(name, "fail", f"could not fit one batch of {len(y)} samples in {steps} steps "
                  f"(loss {first[1]:.3f} -> {loss_v:.3f}{_acc_text(task, acc)}): the model or pipeline "
                  "cannot learn (detached output, frozen layers, wrong loss?)" + suffix, **details)


def _batch_accuracy(task, out: torch.Tensor, y: torch.Tensor) -> float:
    """The batch's primary metric as a fraction when the task's is accuracy-like; 1.0 for
    other tasks (regression), which are judged by the loss alone."""
    if not task.accuracy_like:
        return 1.0
    return float(task.metric_sums(out, y)[task.primary_metric]) / len(y)


def _acc_text(task, acc: float) -> str:
    return f", acc {acc:.0%}" if task.accuracy_like else ""
