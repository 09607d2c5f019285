"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU; others are checked to exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"train.device: unknown device {name!r}; valid: auto, cpu, cuda, cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device: {name!r} asked for, but CUDA is not available; use auto or cpu")
    return device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # warn_only: a few CUDA kernels have no deterministic version; they warn rather than fail.
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def make_generator(seed: int, salt: int = 0) -> torch.Generator:
    """An explicit CPU generator for one consumer (shuffling, augmentation, ...)."""
    gen = torch.Generator()
    gen.manual_seed((seed * 1_000_003 + salt) % 2**63)
    return gen


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in torch (0 keeps torch's default).

    torch's intra-op threads spin while they wait; when the cores are already busy
    (several runs at once, a test suite) two threads were measured ~10x slower than one.
    """
    if threads < 0:
        raise ValueError(f"train.threads must be >= 0 (0: torch's default), got {threads}")
    if threads:
        torch.set_num_threads(threads)
