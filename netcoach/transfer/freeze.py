"""Freezing, unfreezing and discriminative learning rates over a Network's blocks.

A *block* of the backbone is one child with weights (a conv, a linear layer, a residual
block) together with the parameter-free children and normalizations that follow it, so
``transfer.freeze = 2`` on a CNN freezes conv-BN-ReLU-pool twice.

Frozen parameters get ``requires_grad = False``: they receive no gradient, torch's
optimizers skip a parameter without a gradient (no momentum, no weight decay), and
clipping and noise act only on gradients. Frozen BatchNorm layers are held in eval mode
by a forward pre-hook (the trainer calls ``model.train()`` every epoch), so their running
statistics stay bit-identical. The optimizer's parameter groups are built before freezing
and hold every parameter, so unfreezing changes no group, and a resume across the unfreeze
epoch restores exactly the same optimizer.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from netcoach.config import ConfigError, TransferConfig
from netcoach.optim.params import NORM_TYPES
from netcoach.train.callbacks import Callback


def backbone_blocks(model: nn.Module) -> list[list[nn.Module]]:
    """The backbone's children grouped into blocks (see the module docstring)."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ConfigError("transfer options need a model with a backbone and a head "
                          "(netcoach.models.Network); this model has no `backbone`")
    blocks: list[list[nn.Module]] = []
    for child in backbone.children():
        starts = _has_params(child) and not isinstance(child, NORM_TYPES)
        if starts and blocks and any(_has_params(m) and not isinstance(m, NORM_TYPES) for m in blocks[-1]):
            blocks.append([child])
        elif blocks:
            blocks[-1].append(child)
        else:
            blocks.append([child])
    return blocks


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def frozen_modules(model: nn.Module, freeze: str) -> list[nn.Module]:
    """The modules ``transfer.freeze`` names: none, the whole backbone, or its first N blocks."""
    if freeze == "none":
        return []
    blocks = backbone_blocks(model)
    if freeze == "backbone":
        return [m for block in blocks for m in block]
    if not freeze.isdigit():
        raise ConfigError(f"transfer.freeze: expected none, backbone or a number of blocks, got {freeze!r}")
    n = int(freeze)
    if not 1 <= n <= len(blocks):
        raise ConfigError(f"transfer.freeze: {n} blocks requested, the backbone has {len(blocks)} "
                          f"(valid: 1..{len(blocks)}, backbone or none)")
    return [m for block in blocks[:n] for m in block]


def lr_multipliers(model: nn.Module, cfg: TransferConfig) -> Optional[list[tuple[str, list, float]]]:
    """``[(group name, parameters, lr multiplier)]`` with the head first, or None when every
    parameter trains at ``optim.lr`` (no discriminative rates configured).

    Block b of B gets ``backbone_lr_mult * layer_decay ** (B - b)``; the head gets 1.
    """
    check_transfer(cfg)
    if cfg.backbone_lr_mult == 1.0 and cfg.layer_decay == 1.0:
        return None
    blocks = backbone_blocks(model)
    out = [("head", list(model.head.parameters()), 1.0)]
    for b, block in enumerate(blocks):
        params = [p for m in block for p in m.parameters()]
        if params:
            out.append((f"block{b}", params, cfg.backbone_lr_mult * cfg.layer_decay ** (len(blocks) - b)))
    return out


def check_transfer(cfg: TransferConfig) -> None:
    """ConfigError for values outside their ranges (before anything is built)."""
    if cfg.freeze not in ("none", "backbone") and not cfg.freeze.isdigit():
        raise ConfigError(f"transfer.freeze: expected none, backbone or a number of blocks, got {cfg.freeze!r}")
    if cfg.unfreeze_epoch < 0:
        raise ConfigError(f"transfer.unfreeze_epoch must be >= 0 (0: never), got {cfg.unfreeze_epoch}")
    if cfg.unfreeze_epoch and cfg.freeze == "none":
        raise ConfigError("transfer.unfreeze_epoch is set but transfer.freeze is none: nothing to "
                          "unfreeze; set transfer.freeze to backbone or a number of blocks")
    for key in ("backbone_lr_mult", "layer_decay"):
        value = getattr(cfg, key)
        if not 0 < value <= 1:
            raise ConfigError(f"transfer.{key} must be in (0, 1] (smaller lr for earlier layers), got {value}")


def _stay_eval(module: nn.Module, args) -> None:
    module.train(False)


class Freezer(Callback):
    """Keeps ``modules`` frozen until ``unfreeze_epoch`` epochs are done (0: for good).

    Stateless on purpose: whether the modules are frozen follows from ``trainer.epoch``
    alone, so a run resumed at any step (before, at or after the unfreeze epoch) is in
    exactly the state the uninterrupted run was in.
    """

    def __init__(self, modules: list[nn.Module], unfreeze_epoch: int = 0):
        self.modules, self.unfreeze_epoch = modules, unfreeze_epoch
        self._hooks: list = []
        self._frozen: Optional[bool] = None
        # parameters the model itself keeps fixed (e.g. model.norm_scale fixed): unfreezing
        # must not make them trainable
        self._fixed = {id(p) for m in modules for p in m.parameters() if not p.requires_grad}

    def frozen_at(self, completed_epochs: int) -> bool:
        return not self.unfreeze_epoch or completed_epochs < self.unfreeze_epoch

    def on_fit_start(self, trainer) -> None:
        self._apply(self.frozen_at(trainer.epoch))

    def on_epoch_start(self, trainer) -> None:
        self._apply(self.frozen_at(trainer.epoch))

    def on_fit_end(self, trainer, logs: dict) -> None:
        self._apply(False)  # the finished model trains as a whole again (and evaluates normally)

    def _apply(self, frozen: bool) -> None:
        if frozen == self._frozen:
            return
        self._frozen = frozen
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        for module in self.modules:
            for p in module.parameters():
                p.requires_grad_(not frozen and id(p) not in self._fixed)
            if frozen:
                self._hooks += [m.register_forward_pre_hook(_stay_eval)
                                for m in module.modules() if isinstance(m, NORM_TYPES)]
