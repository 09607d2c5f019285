"""The shape every augmentation shares: draw per-sample parameters, then apply them.

A transform is called as ``transform(x, y, generator) -> (x, y)`` on a float batch
in [0, 1] of shape (N, C, H, W). It works in two explicit steps:

1. ``sample(x, generator)`` draws every random number the batch needs from the
   CPU ``generator`` (so the result depends only on the generator state, on CPU
   and CUDA alike) and moves the parameters to ``x.device``;
2. ``apply(x, y, params)`` is a pure, vectorised function of the batch and those
   parameters (no Python loop over samples).

A loader that knows which samples a batch holds passes ``keys`` (``SampleKeys``: their
positions in the split and the epoch) down to ``sample``; a transform whose draw is a
function of the sample and the epoch rather than of the generator alone (the alternating
flip) reads them, every other transform ignores them.

Keeping the draw separate makes the parameters testable: a test can draw them
from a cloned generator and check that, e.g., the content moved by exactly the
drawn shift. Each transform has a probability ``p``: a sample with ``active``
False is returned unchanged (bit for bit).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Optional

import numpy as np
import torch

from netcoach.data.loader import SampleKeys
from netcoach.registry import Registry

Params = dict[str, Any]  # tensors (moved to the batch's device) and plain seeds

# name -> Transform subclass; ``augment.transforms`` picks entries by name.
transforms: Registry = Registry("transform")


class Transform(ABC):
    """Base class: subclasses set ``name``, ``params`` (their config fields) and
    implement ``draw`` and ``apply``.

    Attributes:
        name: registry name (the value in ``augment.transforms``).
        params: the ``AugmentConfig`` fields this transform reads.
        needs_classes: True for label-mixing transforms (they emit (N, K) soft targets).
    """

    name = ""
    params: tuple[str, ...] = ()
    needs_classes = False

    def __init__(self, p: float = 1.0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augment.{self.name}_p: a probability must be in [0, 1], got {p}")
        self.p = float(p)

    @classmethod
    def from_config(cls, cfg, num_classes: Optional[int] = None) -> "Transform":
        """Build from the ``[augment]`` section (fields named ``<name>_<param>``)."""
        kwargs = {cls.arg(key): getattr(cfg, key) for key in cls.params}
        if cls.needs_classes:
            kwargs["num_classes"] = num_classes
        return cls(**kwargs)

    @classmethod
    def arg(cls, key: str) -> str:
        """Constructor argument of config field ``key``: ``crop_padding`` -> ``padding``,
        ``crop_p`` -> ``p``; a field named like the transform (``hue``) keeps its name."""
        return key if key == cls.name else key[len(cls.name) + 1:]

    # -- the two steps ------------------------------------------------------------

    @abstractmethod
    def draw(self, n: int, shape: tuple[int, ...], generator: torch.Generator) -> Params:
        """Random parameters for ``n`` samples of image ``shape`` (C, H, W), on CPU."""

    @abstractmethod
    def apply(self, x: torch.Tensor, y: torch.Tensor, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """The transform itself: vectorised over the batch, no randomness."""

    def sample(self, x: torch.Tensor, generator: torch.Generator,
               keys: Optional[SampleKeys] = None) -> Params:
        """``active`` (N,) bool plus the transform's own parameters, on ``x.device``;
        ``keys`` is unused here (see ``SampleKeys``)."""
        if x.dim() != 4:
            raise ValueError(f"augmentation '{self.name}' needs image batches (N, C, H, W), "
                             f"got shape {tuple(x.shape)}")
        n = x.shape[0]
        active = torch.rand(n, generator=generator) < self.p
        params = self.draw(n, tuple(x.shape[1:]), generator)
        params["active"] = active
        # Tensors go to the batch's device; plain numbers (seeds) stay on the host.
        return {k: v.to(x.device) if isinstance(v, torch.Tensor) else v for k, v in params.items()}

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
                 keys: Optional[SampleKeys] = None):
        return self.apply(x, y, self.sample(x, generator, keys))

    def __repr__(self) -> str:
        fields = ", ".join(f"{self.arg(k)}={getattr(self, self.arg(k), None)!r}" for k in self.params)
        return f"{type(self).__name__}({fields})"


# ------------------------------------------------------------------ helpers


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """(n,) float32 uniform in [low, high)."""
    return torch.rand(n, generator=generator) * (high - low) + low


def randint(n: int, low, high, generator: torch.Generator) -> torch.Tensor:
    """(n,) int64 uniform in [low, high] inclusive; bounds are ints or (n,) integer tensors.

    low + floor(u * (high - low + 1)) in float64, in place: a batch draws several of
    these, and each extra small tensor operation costs about a microsecond."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return u.mul_(high - low + 1).floor_().add_(low).long().clamp_max_(high)


def beta(n: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """(n,) float64 draws of Beta(alpha, alpha).

    torch's Beta distribution takes no generator, so numpy's Beta sampler is seeded
    from ``generator``: the draw stays a function of the generator state alone.
    """
    seed = draw_seed(generator)
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=n))


def draw_seed(generator: torch.Generator) -> int:
    """A seed for a device generator, drawn from ``generator`` (a Python int: no device sync)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def device_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` for per-pixel random values.

    Per-pixel noise is as large as the batch; drawing it on the CPU and copying it to
    a GPU would cost a host-to-device copy per batch, so only its seed comes from the
    CPU generator (deterministic for a generator state on a given device type).
    """
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def where_active(active: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per-sample choice: ``new`` where ``active`` (N,), else ``old`` unchanged."""
    return torch.where(active.view(-1, *([1] * (old.dim() - 1))), new, old)


def box_tables(h: int, w: int, top: torch.Tensor, left: torch.Tensor, bottom: torch.Tensor,
               right: torch.Tensor, active: Optional[torch.Tensor] = None):
    """Per-sample row (N, H) and column (N, W) membership of the boxes [top, bottom) x
    [left, right) (no rows where ``active`` is False). A box is their outer product."""
    rows = torch.arange(h, device=top.device).view(1, h)
    cols = torch.arange(w, device=top.device).view(1, w)
    in_rows = (rows >= top.view(-1, 1)) & (rows < bottom.view(-1, 1))
    if active is not None:
        in_rows &= active.view(-1, 1)
    in_cols = (cols >= left.view(-1, 1)) & (cols < right.view(-1, 1))
    return in_rows, in_cols


def outer(rows: torch.Tensor, cols: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """(N, 1, H, W) = rows (N, H) x cols (N, W), in ``dtype``.

    Masks are built in float: on CPU, elementwise ops on bool tensors are not
    vectorised and were ~5x slower (bench/augment.py).
    """
    return (rows.to(dtype).unsqueeze(2) * cols.to(dtype).unsqueeze(1)).unsqueeze(1)


def box_mask(h: int, w: int, top: torch.Tensor, left: torch.Tensor, bottom: torch.Tensor,
             right: torch.Tensor, active: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(N, 1, H, W) bool mask of the boxes [top, bottom) x [left, right) per sample."""
    return outer(*box_tables(h, w, top, left, bottom, right, active)) > 0


def degrees(value: torch.Tensor) -> torch.Tensor:
    return value * (math.pi / 180.0)
