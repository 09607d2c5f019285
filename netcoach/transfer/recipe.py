"""fastai's ``fine_tune`` recipe as a config: a few epochs with only the new head
training, then everything with discriminative learning rates.

fastai (``Learner.fine_tune``): ``freeze_epochs`` with the body frozen, then unfreeze
and train ``epochs`` more with lr spread geometrically from ``lr / lr_mult`` (first
layer group) to ``lr`` (head). Here the spread is ``transfer.layer_decay`` over the
backbone's blocks, chosen so the first block gets ``lr / lr_mult``. Two differences,
on purpose: one schedule runs over both phases (fastai restarts a one-cycle per phase
and halves the lr after the frozen one), so a resume across the unfreeze is one
ordinary resume; and the frozen epochs use the same lr as the head afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from netcoach.config import Config, ConfigError, apply_overrides
from netcoach.train.run import RunFolder
from netcoach.transfer.weights import read_state_dict


def source_config(source: str | Path) -> Optional[Config]:
    """The config of a run folder ``source`` (its model, data and recipe), else None."""
    run = RunFolder(source)
    return run.config() if Path(source).is_dir() and run.config_path.is_file() else None


def count_blocks(state: dict) -> int:
    """Blocks of a Network's backbone in a state dict: the backbone children that hold a
    weight with 2 or more dimensions (conv, linear, residual block; norms have 1-D ones).
    This is ``len(backbone_blocks(model))`` without building the model."""
    owners = {key.split(".")[1] for key, value in state.items()
              if key.startswith("backbone.") and value.dim() >= 2}
    return len(owners)


def finetune_config(source: str | Path, config: Config, epochs: int, freeze_epochs: int = 1,
                    lr_mult: float = 100.0) -> Config:
    """``config`` set up for fine-tuning from ``source`` (a run folder or a weights file).

    Args:
        epochs: epochs after unfreezing (train.epochs becomes freeze_epochs + epochs).
        freeze_epochs: epochs with the backbone frozen (only the new head trains).
        lr_mult: the first backbone block trains at optim.lr / lr_mult (1: no spread).
    """
    if epochs < 1 or freeze_epochs < 0:
        raise ConfigError(f"finetune: --epochs must be >= 1 and --freeze-epochs >= 0, "
                          f"got {epochs} and {freeze_epochs}")
    if lr_mult < 1:
        raise ConfigError(f"finetune: --lr-mult must be >= 1 (the first block's lr is lr / lr_mult), got {lr_mult}")
    blocks = count_blocks(read_state_dict(source))
    if blocks == 0:
        raise ConfigError(f"finetune: {source} holds no backbone.* weights (a netcoach Network's); "
                          f"use --model.init_from with netcoach train for other layouts")
    overrides = {"model.init_from": str(source), "train.epochs": str(freeze_epochs + epochs),
                 "transfer.layer_decay": repr((1.0 / lr_mult) ** (1.0 / blocks)),
                 "transfer.backbone_lr_mult": "1.0"}
    overrides.update({"transfer.freeze": "backbone", "transfer.unfreeze_epoch": str(freeze_epochs)}
                     if freeze_epochs else {"transfer.freeze": "none", "transfer.unfreeze_epoch": "0"})
    return apply_overrides(config, overrides)
