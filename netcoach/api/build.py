"""``build_trainer``: every piece a run needs, built from the config in the order the
pieces depend on each other, and validated, before any file is written."""

from __future__ import annotations

from typing import Iterable, Optional

from torch import nn

from netcoach.api.data_setup import build_task_and_data
from netcoach.api.model_setup import build_network
from netcoach.augment import build_augment
from netcoach.config import Config
from netcoach.config.loader import validate
from netcoach.data import build_loaders
from netcoach.distill import distill_task
from netcoach.optim import build_optimizer, build_schedule
from netcoach.optim.optimizers import FULL_BATCH
from netcoach.optim.regularize import build_update_rules
from netcoach.train import Callback, Trainer
from netcoach.train.guard import NanGuard
from netcoach.train.monitor import plateau_monitor
from netcoach.transfer.setup import prepare as prepare_transfer
from netcoach.utils.runtime import Runtime, seed_everything, set_threads


def build_trainer(config: Config, *, model: Optional[nn.Module] = None, data=None,
                  callbacks: Iterable[Callback] = (), runtime: Optional[Runtime] = None) -> Trainer:
    """Everything a run needs, built and validated (no files written)."""
    tc = validate(config).train  # also a Config built in Python, not loaded through the loader
    runtime = runtime or Runtime.local(tc.device)
    seed_everything(tc.seed, tc.deterministic)
    set_threads(tc.threads)
    task, bundle = build_task_and_data(config, runtime.device, data)
    model = build_network(config, bundle, task, runtime, model)
    transfer = prepare_transfer(model, config)  # model.init_from weights, [transfer] lr parts
    # parameter groups: no decay on biases/norms; every parameter placed, also those frozen later
    optimizer = build_optimizer(model, config.optim, lr_scales=transfer.lr_scales)
    loaders = build_loaders(config, bundle,
                            transform=build_augment(config.augment, num_classes=bundle.num_classes),
                            rank=runtime.rank, world_size=runtime.world_size)
    # distill.teacher: the teacher joins the loss (its logits cached per training sample without augmentation)
    task = distill_task(task, config, bundle, model, runtime.device, loaders["train"])
    if config.optim.name in FULL_BATCH:  # gradient descent: the whole training split is one batch
        loaders["train"].batch_size = len(bundle.train)
    steps_per_epoch = -(-len(loaders["train"]) // max(tc.grad_accum, 1))  # optimizer steps
    schedule = build_schedule(optimizer, config.schedule, tc.epochs, steps_per_epoch,
                              loader=loaders["train"], monitor=plateau_monitor(config))
    rules = build_update_rules(model, config, n_train=len(bundle.train), optimizer=optimizer)
    return Trainer(model, loaders, task, optimizer, schedule, tc.epochs, callbacks, rules=rules,
                   grad_accum=tc.grad_accum, precision=tc.precision, channels_last=tc.channels_last,
                   compile=tc.compile, guard=nan_guard(config), data=bundle, config=config,
                   runtime=runtime, transfer=transfer)


def nan_guard(config: Config) -> Optional[NanGuard]:
    """The configured NaN guard (``train.nan_guard``), or None when it is off."""
    tc = config.train
    if tc.nan_guard == "off":
        return None
    return NanGuard(tc.nan_guard, tc.check_grads, tc.rollback_lr_factor, tc.max_rollbacks)
