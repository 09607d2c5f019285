"""The model registry and the one function that builds a model from the config."""

from __future__ import annotations

import torch
from torch import nn

from netcoach.config import ConfigError, ModelConfig
from netcoach.data.preprocess import MODES
from netcoach.models.external import build_external, is_external
from netcoach.models.network import ModelContractError, Network
from netcoach.nn.norms import fix_scales
from netcoach.registry import Registry

models: Registry = Registry("model")


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """Build ``cfg.name`` for inputs of ``input_shape`` (without batch) and ``num_classes`` outputs,
    then apply ``cfg.init`` / ``cfg.bias_init`` to its Linear and Conv layers.

    ``PREFIX:ARCH`` names (``tv:resnet18``, ``timm:...``) are built by ``models/external.py``
    from torchvision or timm when installed. The result is a ``Network`` (named ``backbone`` and ``head``, see ``models/network.py``);
    a registered builder that returns anything else is refused.
    """
    if is_external(cfg.name):  # tv:resnet18, timm:...: an optional library's architecture
        model = build_external(cfg, tuple(input_shape), num_classes)
    else:
        model = models.get(cfg.name)(cfg, tuple(input_shape), num_classes)
    if not isinstance(model, Network):
        raise ModelContractError(f"model builder '{cfg.name}' returned a {type(model).__name__}; "
                                 "builders return netcoach.models.Network(backbone, head)")
    if cfg.norm_scale == "fixed":
        fix_scales(model)
    # In module order, backbone then head: the same draws as when the layers were one Sequential.
    return model.init_scheme.apply(model)


def check_normalized_input(cfg: ModelConfig, normalize: str, raw_shape: tuple[int, ...],
                           input_shape: tuple[int, ...], num_classes: int) -> None:
    """Refuse a ``data.normalize`` mode whose output the model cannot take (pca gives flat
    vectors; an image model needs images), naming the mode rather than leaving the model's
    own shape error. Both builds run on torch's meta device, which allocates nothing; a
    model that fails on the raw inputs too is left to report its own error."""
    if tuple(raw_shape) == tuple(input_shape):
        return
    with torch.device("meta"):
        try:
            build_model(cfg, tuple(input_shape), num_classes)
            return
        except ValueError as exc:
            problem = str(exc)
        try:
            build_model(cfg, tuple(raw_shape), num_classes)
        except Exception:  # noqa: BLE001 - not this mode's doing: the real build reports it
            return
    others = ", ".join(m for m in MODES if m != normalize)
    raise ConfigError(f"data.normalize {normalize}: gives inputs of shape {tuple(input_shape)} instead of "
                      f"{tuple(raw_shape)}, which model.name {cfg.name} cannot take ({problem}); with "
                      f"{normalize} use a model for such inputs, or keep {cfg.name} with data.normalize {others}")


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def image_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``input_shape`` as (C, H, W), or a ValueError naming the models for flat inputs."""
    if len(input_shape) != 3:
        raise ValueError(f"model '{name}' needs image inputs (C, H, W), got shape {input_shape}; "
                         "use model.name mlp or linear for flat inputs")
    return input_shape  # type: ignore[return-value]


def signal_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """``input_shape`` as (C, L), or a ValueError naming what the signal models take."""
    if len(input_shape) != 2:
        raise ValueError(f"model '{name}' needs signals or sequences (C, L) (channels, length), got "
                         f"shape {input_shape}; use cnn for images, mlp or linear for flat inputs")
    return input_shape  # type: ignore[return-value]


def scaled(channels: int, mult: float) -> int:
    """``channels * mult`` rounded, at least 1 (``model.width_mult``)."""
    return max(1, int(round(channels * mult)))
