"""The network an export traces: the model, optionally with the run's preprocessing in
front and the task's post-processing behind, so the exported file takes the raw inputs
a user has (uint8 pixels as stored) and can give probabilities."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from netcoach.export.source import RunSource
from netcoach.tasks import task_of_run


class Preprocess(nn.Module):
    """Stored values -> normalized floats: x / scale, then (x - mean) / std per channel,
    or the run's fitted ``data.normalize`` module (mean image, PCA, ZCA) instead.

    The same arithmetic as ``netcoach.predict.prepare_inputs`` (a test checks that the
    two agree), written as a module so the exporters can trace it into the graph.
    """

    def __init__(self, scale: float, mean: Optional[list[float]], std: Optional[list[float]],
                 sample_dims: int, normalizer: Optional[nn.Module] = None):
        super().__init__()
        self.scale = float(scale)
        view = (1, -1) + (1,) * (sample_dims - 1)
        self.normalized = mean is not None
        self.register_buffer("mean", torch.tensor(mean or [0.0]).view(view))
        self.register_buffer("std", torch.tensor(std or [1.0]).view(view))
        self.normalizer = normalizer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32) / self.scale
        if self.normalizer is not None:
            return self.normalizer(x)
        return (x - self.mean) / self.std if self.normalized else x


class Exported(nn.Module):
    """``post(model(pre(x)))``; ``pre``/``post`` are identities unless asked for."""

    def __init__(self, model: nn.Module, pre: Optional[nn.Module] = None,
                 post: Optional[Callable[[torch.Tensor], torch.Tensor]] = None):
        super().__init__()
        self.model = model
        self.pre = pre if pre is not None else nn.Identity()
        self.post = post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(self.pre(x))
        return self.post(out) if self.post is not None else out


def exported_module(source: RunSource, with_preprocessing: bool, probabilities: bool) -> nn.Module:
    """The module to export for ``source`` (eval mode)."""
    record = source.record
    pre = (Preprocess(record["scale"], record.get("mean"), record.get("std"), len(source.input_shape),
                      source.normalizer) if with_preprocessing else None)
    post = task_of_run(source.config, record).postprocess if probabilities else None  # targets' units
    return Exported(source.model, pre, post).eval()

