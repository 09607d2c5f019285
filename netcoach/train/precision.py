"""Numeric precision of the training step: autocast and the fp16 gradient scaler."""

from __future__ import annotations

import torch


def precision_tools(name: str, device: torch.device):
    """(autocast context factory or None, GradScaler or None) for a precision name:
    ``fp32`` (neither), ``bf16`` (autocast), ``fp16`` (autocast + GradScaler, CUDA only)."""
    if name == "fp32":
        return None, None
    if name == "bf16":
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), None
    if name == "fp16":
        if device.type != "cuda":
            raise ValueError(f"train.precision: fp16 needs a CUDA device (this run is on {device}); "
                             f"use bf16 or fp32")
        return (lambda: torch.autocast("cuda", dtype=torch.float16)), torch.amp.GradScaler("cuda")
    raise ValueError(f"train.precision: unknown {name!r}; valid: fp32, bf16, fp16")
