"""Per-channel normalization statistics, computed on the training split only."""

from __future__ import annotations

import torch


def channel_stats(x: torch.Tensor, scale: float, chunk: int = 8192) -> tuple[list[float], list[float]]:
    """Mean and std per channel (dim 1) of ``x / scale``, in float64, chunked to bound memory.

    Args:
        x: (N, C, ...) stored inputs (uint8 or float).
        scale: stored value that means 1.0.
    """
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    count = 0
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].to("cpu", torch.float64).div_(scale)
        part = part.transpose(0, 1).reshape(c, -1)
        total += part.sum(1)
        total_sq += (part * part).sum(1)
        count += part.shape[1]
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0.0)
    std = var.sqrt()
    # A constant channel (e.g. an always-zero pixel) would divide by zero; leave it unscaled.
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    return mean.tolist(), std.tolist()
