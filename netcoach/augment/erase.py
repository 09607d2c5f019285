"""Erasing transforms: cutout, random erasing and GridMask.

All three build a boolean (N, 1, H, W) mask from per-sample numbers with broadcast
comparisons against row/column indices (no loop over samples) and overwrite the
masked pixels.
"""

from __future__ import annotations

import math

import torch

from netcoach.augment.base import (Params, Transform, box_mask, box_tables, device_generator, draw_seed,
                                   outer, randint, transforms, uniform)


def fill_erased(x: torch.Tensor, keep: torch.Tensor, value: float) -> torch.Tensor:
    """``x`` where ``keep`` (N, 1, H, W) is 1, ``value`` where it is 0.

    A multiply by a float keep-mask rather than ``masked_fill``: on CPU, masked_fill
    with a mask broadcast over channels was ~15x slower (bench/augment.py).
    """
    out = x * keep
    if value != 0.0:
        out += value * (1 - keep)
    return out


@transforms.register("cutout")
class Cutout(Transform):
    """Cutout (DeVries & Taylor 2017): a ``size`` x ``size`` square with its centre
    uniform over the image (it may stick out, so less is erased near borders) set
    to ``value`` (in [0, 1] units; 0 = black)."""

    name, params = "cutout", ("cutout_p", "cutout_size", "cutout_value")

    def __init__(self, p: float = 1.0, size: int = 8, value: float = 0.0):
        super().__init__(p)
        if size < 1:
            raise ValueError(f"augment.cutout_size: must be >= 1 pixel, got {size}")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"augment.cutout_value: must be in [0, 1], got {value}")
        self.size, self.value = int(size), float(value)

    def draw(self, n, shape, generator) -> Params:
        _, h, w = shape
        return {"cy": randint(n, 0, h - 1, generator), "cx": randint(n, 0, w - 1, generator)}

    def box(self, params: Params, h: int, w: int):
        """(top, left, bottom, right) per sample, clipped to the image."""
        top = (params["cy"] - self.size // 2).clamp(0, h)
        left = (params["cx"] - self.size // 2).clamp(0, w)
        bottom = (params["cy"] - self.size // 2 + self.size).clamp(0, h)
        right = (params["cx"] - self.size // 2 + self.size).clamp(0, w)
        return top, left, bottom, right

    @property
    def zero_fill(self) -> bool:
        """Whether erased pixels become 0 (then the pipeline may fuse it with pixel moves)."""
        return self.value == 0.0

    def keep(self, params: Params, h: int, w: int, dtype=torch.float32) -> torch.Tensor:
        """(N, 1, H, W): 0 where pixels are erased, 1 elsewhere."""
        return 1 - outer(*box_tables(h, w, *self.box(params, h, w), params["active"]), dtype)

    def apply(self, x, y, params):
        return fill_erased(x, self.keep(params, x.shape[2], x.shape[3], x.dtype), self.value), y


@transforms.register("erase")
class RandomErasing(Transform):
    """Random erasing (Zhong et al. 2017): a rectangle of area uniform in
    [area_min, area_max] of the image and aspect ratio log-uniform in
    [1/aspect_max, aspect_max], placed fully inside, filled with uniform noise.
    The paper redraws rectangles that do not fit; here the sides are clipped to the
    image instead, which keeps the draw a fixed amount of work per batch."""

    name, params = "erase", ("erase_p", "erase_area_min", "erase_area_max", "erase_aspect_max")

    def __init__(self, p: float = 0.5, area_min: float = 0.02, area_max: float = 0.4,
                 aspect_max: float = 3.3):
        super().__init__(p)
        if not 0 < area_min <= area_max <= 1:
            raise ValueError(f"augment.erase_area_min/max: need 0 < area_min <= area_max <= 1, "
                             f"got {area_min}, {area_max}")
        if aspect_max < 1:
            raise ValueError(f"augment.erase_aspect_max: must be >= 1, got {aspect_max}")
        self.area_min, self.area_max, self.aspect_max = float(area_min), float(area_max), float(aspect_max)

    def draw(self, n, shape, generator) -> Params:
        _, h, w = shape
        area = uniform(n, self.area_min, self.area_max, generator) * (h * w)
        log_aspect = uniform(n, -math.log(self.aspect_max), math.log(self.aspect_max), generator)
        aspect = torch.exp(log_aspect)  # height / width
        eh = torch.sqrt(area * aspect).round().long().clamp(1, h)
        ew = torch.sqrt(area / aspect).round().long().clamp(1, w)
        top = randint(n, 0, h - eh, generator)
        left = randint(n, 0, w - ew, generator)
        return {"top": top, "left": left, "bottom": top + eh, "right": left + ew,
                "seed": draw_seed(generator)}

    def apply(self, x, y, params):
        mask = box_mask(x.shape[2], x.shape[3], params["top"], params["left"], params["bottom"],
                        params["right"], params["active"])
        noise = torch.rand(x.shape, generator=device_generator(params["seed"], x.device),
                           device=x.device, dtype=x.dtype)
        return torch.where(mask, noise, x), y


@transforms.register("gridmask")
class GridMask(Transform):
    """GridMask (Chen et al. 2020, the course's "Аугментация: GridMask").

    The mask tiles the image with units of d x d pixels (d uniform in
    [d_min, d_max] per sample). In the paper's terms r is the ratio of the shorter
    kept ("gray") edge of a unit, so each unit loses a square of side
    l = round((1 - r) d) and the keep ratio is k = 1 - (1 - r)^2. The grid starts
    at random offsets (delta_x, delta_y) uniform in [0, d). Pixel (i, j) is erased
    when ((i - delta_y) mod d) < l and ((j - delta_x) mod d) < l.
    """

    name, params = "gridmask", ("gridmask_p", "gridmask_d_min", "gridmask_d_max", "gridmask_r")

    def __init__(self, p: float = 1.0, d_min: int = 8, d_max: int = 16, r: float = 0.6):
        super().__init__(p)
        if not 2 <= d_min <= d_max:
            raise ValueError(f"augment.gridmask_d_min/max: need 2 <= d_min <= d_max, got {d_min}, {d_max}")
        if not 0 < r < 1:
            raise ValueError(f"augment.gridmask_r: the kept edge ratio must be in (0, 1), got {r}")
        self.d_min, self.d_max, self.r = int(d_min), int(d_max), float(r)

    def expected_erased(self) -> float:
        """(1 - r)^2: the fraction erased when the image is a whole number of units."""
        return (1 - self.r) ** 2

    def draw(self, n, shape, generator) -> Params:
        d = randint(n, self.d_min, self.d_max, generator)
        return {"d": d, "dy": randint(n, 0, d - 1, generator), "dx": randint(n, 0, d - 1, generator),
                "l": ((1 - self.r) * d.double()).round().long()}

    zero_fill = True  # erased pixels become 0 (the pipeline may fuse it with pixel moves)

    def keep(self, params: Params, h: int, w: int, dtype=torch.float32) -> torch.Tensor:
        """(N, 1, H, W): 0 where pixels are erased, 1 elsewhere (inactive samples: all 1)."""
        d, l = params["d"].view(-1, 1), params["l"].view(-1, 1)
        rows = torch.arange(h, device=d.device).view(1, h)
        cols = torch.arange(w, device=d.device).view(1, w)
        in_rows = ((rows - params["dy"].view(-1, 1)) % d < l) & params["active"].view(-1, 1)
        in_cols = (cols - params["dx"].view(-1, 1)) % d < l
        return 1 - outer(in_rows, in_cols, dtype)

    def apply(self, x, y, params):
        return fill_erased(x, self.keep(params, x.shape[2], x.shape[3], x.dtype), 0.0), y
