"""The model registry and the one function that builds a model from the config."""

from __future__ import annotations

from torch import nn

from netcoach.config import ModelConfig
from netcoach.registry import Registry

models: Registry = Registry("model")


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build ``cfg.name`` for inputs of ``input_shape`` (without batch) and ``num_classes`` outputs."""
    return models.get(cfg.name)(cfg, tuple(input_shape), num_classes)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
