"""Device choice, seeding, thread count and the process's place in a run (``Runtime``)."""

from __future__ import annotations

import random
from dataclasses import dataclass

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
    # Deterministic mode also fills every new tensor with NaN (a guard against kernels that
    # read memory they never wrote): 8% of a CPU conv net's step, measured; the kernels
    # themselves stay deterministic, and the resume tests compare runs bit for bit.
    torch.utils.deterministic.fill_uninitialized_memory = False


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


@dataclass(frozen=True)
class Runtime:
    """Where this process trains and which part of a (possibly multi-process) run it is.

    Every writer of the run folder asks ``is_main``: with several processes only rank 0
    writes files, so a run's records exist once. A single process is rank 0 of 1.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1

    def __post_init__(self):
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is outside a world of {self.world_size} processes")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def local(cls, device: str = "auto") -> "Runtime":
        """One process on ``device`` (``auto``: CUDA when present)."""
        return cls(resolve_device(device))
