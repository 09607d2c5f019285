"""What a run's ``model.init_from`` and ``[transfer]`` options amount to, built once.

``build_trainer`` calls :func:`prepare` right after building the model, before the
optimizer: the weights are loaded, the lr multipliers are known (the optimizer's
groups are made from them) and the frozen modules are checked, all before any run
folder exists, so a bad path or block count leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from torch import nn

from netcoach.config import Config, ConfigError
from netcoach.transfer.freeze import Freezer, check_transfer, frozen_modules, lr_multipliers
from netcoach.transfer.weights import LoadReport, load_pretrained


# Schedules whose torch scheduler is given one lr range for all groups (CyclicLR, OneCycleLR).
ONE_RANGE_SCHEDULES = ("cyclic",)  # onecycle peaks each group at max_lr x its lr_mult


@dataclass
class TransferSetup:
    """The loaded weights' report, the lr parts of the optimizer, the modules to freeze."""

    report: Optional[LoadReport] = None
    lr_scales: Optional[list] = None
    frozen: list[nn.Module] = field(default_factory=list)
    unfreeze_epoch: int = 0

    def callbacks(self) -> list:
        return [Freezer(self.frozen, self.unfreeze_epoch)] if self.frozen else []

    def notes(self) -> list[str]:
        return [self.report.message()] if self.report is not None else []

    def record(self) -> dict:
        """``summary.json``'s ``transfer`` entry."""
        frozen = sum(p.numel() for m in self.frozen for p in m.parameters())
        out: dict = {"frozen_parameters": frozen, "unfreeze_epoch": self.unfreeze_epoch}
        if self.report is not None:
            out["init_from"] = self.report.record()
        if self.lr_scales:
            out["lr_mult"] = {name: mult for name, _, mult in self.lr_scales}
        return out


def prepare(model: nn.Module, config: Config) -> TransferSetup:
    """Load ``model.init_from`` into ``model`` and work out the ``[transfer]`` options."""
    cfg = config.transfer
    check_transfer(cfg)
    scales = lr_multipliers(model, cfg)
    if scales and config.schedule.name in ONE_RANGE_SCHEDULES:
        raise ConfigError(f"schedule.name {config.schedule.name} sets one lr range for every parameter "
                          f"group, which would undo transfer.backbone_lr_mult/layer_decay; use a schedule "
                          f"that scales each group's own lr (constant, step, multistep, exponential, "
                          f"cosine_restarts, plateau, onecycle) or leave both at 1")
    frozen = frozen_modules(model, cfg.freeze)
    if frozen and config.dist.nproc > 1:
        raise ConfigError("transfer.freeze with dist.nproc > 1 is not supported: DistributedDataParallel "
                          "fixes at wrap time which parameters get gradients, and the Freezer changes that "
                          "later; train with dist.nproc 1 or transfer.freeze none")
    report = load_pretrained(model, config.model.init_from) if config.model.init_from else None
    return TransferSetup(report, scales, frozen, cfg.unfreeze_epoch)
