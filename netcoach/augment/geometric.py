"""Geometric transforms: flips, crop with padding, translation, rotation, scale + shear.

Integer moves (flips, crop, translation) copy pixels exactly with one ``gather``
per run of consecutive moves (flips with one zero-filled shift: ``flipshift``, plane by
plane); rotation and scale/shear build one 2x3 affine matrix
per sample and resample the whole batch with one ``affine_grid`` + ``grid_sample``
(bilinear) call.
"""

from __future__ import annotations

import functools
from abc import abstractmethod

import torch
import torch.nn.functional as F

from netcoach.augment.base import Params, Transform, degrees, outer, randint, transforms, uniform, where_active
from netcoach.augment.flipshift import FlipShiftScratch, flip_shift
from netcoach.data.loader import SampleKeys

FILLS = ("zero", "reflect")


def _check_fill(name: str, fill: str) -> str:
    if fill not in FILLS:
        raise ValueError(f"augment.{name}_fill: {fill!r} is not valid; choose one of: {', '.join(FILLS)}")
    return fill


# ---------------------------------------------------------------- integer pixel moves
#
# Flips, crops and translations only move whole pixels, and along each axis
# separately: output row i reads input row r[n, i], output column j reads c[n, j].
# They are written as maps of those (N, H) / (N, W) coordinate tables, so a run of
# them composes into one table and the batch is copied once, by one ``gather``
# (``IntegerMoves``; bench/augment.py measures it against a per-sample loop).

Coords = tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]


def _fold(index: torch.Tensor, size: int, ok: "torch.Tensor | None", fill: str):
    """Bring source coordinates into [0, size): mirror them (``reflect``, as
    ``F.pad(mode="reflect")``: -1 -> 1) or clamp them and mark them invalid (``zero``)."""
    if fill == "reflect":
        period = 2 * (size - 1)
        folded = index.remainder(period) if period > 0 else torch.zeros_like(index)
        return torch.where(folded >= size, period - folded, folded), ok
    inside = (index >= 0) & (index < size)
    return index.clamp(0, size - 1), inside if ok is None else ok & inside


def identity_coords(n: int, h: int, w: int, device) -> Coords:
    """Row table (N, H), column table (N, W), and validity (None: all valid)."""
    rows = torch.arange(h, device=device).expand(n, h)
    cols = torch.arange(w, device=device).expand(n, w)
    return rows, cols, None, None


def remap(x: torch.Tensor, coords: Coords, keep: "torch.Tensor | None" = None) -> torch.Tensor:
    """out[n, :, i, j] = x[n, :, rows[n, i], cols[n, j]], zero where a table is invalid
    and where the optional float mask ``keep`` (N, 1, H, W) is 0."""
    n, c, h, w = x.shape
    rows, cols, row_ok, col_ok = coords
    # Rows first: whole rows are copied (index_select over N*C*H rows of W values),
    # then columns: a gather whose (N, 1, 1, W) index stays in cache. Faster than one
    # gather with an N*H*W index table (bench/augment.py).
    plane = torch.arange(n * c, device=x.device).view(n, c, 1) * h
    by_rows = x.reshape(n * c * h, w).index_select(0, (plane + rows.view(n, 1, h)).view(-1))
    out = by_rows.view(n, c, h, w).gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))
    if row_ok is not None or col_ok is not None:
        ok = outer(row_ok if row_ok is not None else torch.ones_like(rows, dtype=torch.bool),
                   col_ok if col_ok is not None else torch.ones_like(cols, dtype=torch.bool), x.dtype)
        keep = ok if keep is None else keep * ok
    if keep is not None:
        out.mul_(keep)
    return out


def shift_coords(coords: Coords, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int, fill: str) -> Coords:
    """Coordinates after moving content by (dy, dx): output (i, j) reads (i - dy, j - dx)."""
    rows, cols, row_ok, col_ok = coords
    rows, row_ok = _fold(rows - dy.view(-1, 1), h, row_ok, fill)
    cols, col_ok = _fold(cols - dx.view(-1, 1), w, col_ok, fill)
    return rows, cols, row_ok, col_ok


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, fill: str = "zero") -> torch.Tensor:
    """Move sample n's content by (dy[n], dx[n]) pixels: out[n, :, i, j] = x[n, :, i - dy, j - dx].

    Pixels that come from outside the image are zero (``fill="zero"``) or mirrored
    (``"reflect"``).

    Example:
        >>> x = torch.arange(4.).view(1, 1, 1, 4)
        >>> shift(x, torch.tensor([0]), torch.tensor([1])).flatten().tolist()
        [0.0, 0.0, 1.0, 2.0]
    """
    n, _, h, w = x.shape
    return remap(x, shift_coords(identity_coords(n, h, w, x.device), dy, dx, h, w, fill))


class IntegerMove(Transform):
    """A transform that only moves whole pixels, one axis at a time (see ``remap``)."""

    @abstractmethod
    def source(self, coords: Coords, params, h: int, w: int) -> Coords:
        """Where output coordinates read from, given where this transform's output is read."""

    def apply(self, x, y, params):
        n, _, h, w = x.shape
        return remap(x, self.source(identity_coords(n, h, w, x.device), params, h, w)), y


class IntegerMoves:
    """Consecutive ``IntegerMove`` transforms, then optionally erasers that write zeros
    (cutout, GridMask), fused into one gather and one multiply.

    Parameters are drawn in the same order as running the steps one by one, and
    composing coordinate tables (and zero masks) is exact, so the result is
    bit-identical to the unfused steps (tests check it) while the batch is copied
    once instead of once per step.
    """

    def __init__(self, steps: list[IntegerMove]):
        self.steps = steps
        self.erasers: list = []  # zero-filling transforms with ``keep(params, h, w, dtype)``
        self.scratch = FlipShiftScratch()  # flip_shift's buffers, kept from batch to batch

    def __call__(self, x, y, generator, keys=None):
        params = [step.sample(x, generator, keys) for step in self.steps]
        erase_params = [step.sample(x, generator) for step in self.erasers]
        n, _, h, w = x.shape
        if self.is_flip_shift():
            return flip_shift(x, *self.flip_shift_maps(params, h, w), self.pads(h, w), scratch=self.scratch), y
        coords = identity_coords(n, h, w, x.device)
        for step, p in zip(reversed(self.steps), reversed(params)):  # output side first
            coords = step.source(coords, p, h, w)
        keep = None
        for step, p in zip(self.erasers, erase_params):
            mask = step.keep(p, h, w, x.dtype)
            keep = mask if keep is None else keep * mask
        return remap(x, coords, keep), y


    def is_flip_shift(self) -> bool:
        """Flips and at most one zero-filling crop or translation, no erasers: every axis is
        then a mirror flag and an offset per sample, copied by ``flip_shift``."""
        shifts = [s for s in self.steps if isinstance(s, _Shift)]
        return (not self.erasers and len(shifts) <= 1 and all(s.fill == "zero" for s in shifts)
                and all(isinstance(s, (_Shift, HorizontalFlip, VerticalFlip)) for s in self.steps))

    def flip_shift_maps(self, params: list, h: int, w: int):
        """Per-sample mirror flags and offsets (fy, ry, fx, rx) of ``flip_shift``: output
        (i, j) reads the sample, mirrored where the flags say, at (i + ry, j + rx). The steps
        compose from the output side, as ``source`` composes the coordinate tables: a flip
        toggles its axis' flag, and a shift by d adds -d to the offset, or +d on an axis
        already mirrored (mirrored coordinates run the other way); inactive samples keep both."""
        active = params[0]["active"]
        fy = fx = torch.zeros_like(active)
        ry = rx = torch.zeros(active.shape, dtype=torch.long, device=active.device)
        for step, p in zip(reversed(self.steps), reversed(params)):
            if isinstance(step, HorizontalFlip):
                fx = fx ^ p["active"]
            elif isinstance(step, VerticalFlip):
                fy = fy ^ p["active"]
            else:
                dy, dx = p["dy"] * p["active"], p["dx"] * p["active"]
                ry, rx = ry + torch.where(fy, dy, -dy), rx + torch.where(fx, dx, -dx)
        return fy, ry, fx, rx

    def pads(self, h: int, w: int) -> tuple[int, int]:
        """The largest shift along rows and columns (0 without a shift)."""
        for s in self.steps:
            if isinstance(s, RandomCrop):
                return s.padding, s.padding
            if isinstance(s, Translate):
                return round(s.max * h), round(s.max * w)
        return 0, 0


def _flipped(table: torch.Tensor, size: int, active: torch.Tensor) -> torch.Tensor:
    return torch.where(active.view(-1, 1), size - 1 - table, table)


FLIP_MODES = ("random", "alternate")


@transforms.register("hflip")
class HorizontalFlip(IntegerMove):
    """Mirror left-right with probability ``p`` (course: "zrcadlení").

    ``mode="alternate"`` is airbench's alternating flip (Jordan 2024, "94% on CIFAR-10 in
    3.29 seconds"): epoch 0 mirrors each sample with probability ``p``, and every later
    epoch mirrors exactly the samples the previous one did not, so over any two
    consecutive epochs each sample is seen once each way instead of repeating a view half
    of the time. Sample i's mirror in epoch e is ``first_flips[i] XOR (e odd)``, a function
    of the run's seed, the sample and the epoch (``SampleKeys``) and never of the batch
    order, so a resume is exact without a stored table. The generator is drawn from
    exactly as in ``random`` mode, so every other transform's draws are the same in both
    modes. Called without keys (the augmentation preview, a pipeline called directly),
    the alternating flip draws as ``random`` does: there is no epoch to alternate over.
    """

    name, params = "hflip", ("hflip_p", "hflip_mode")

    def __init__(self, p: float = 0.5, mode: str = "random"):
        super().__init__(p)
        if mode not in FLIP_MODES:
            raise ValueError(f"augment.hflip_mode: {mode!r} is not valid; choose one of: {', '.join(FLIP_MODES)}")
        self.mode = mode

    def draw(self, n, shape, generator) -> Params:
        return {}

    def sample(self, x, generator, keys: SampleKeys | None = None) -> Params:
        params = super().sample(x, generator)
        if self.mode == "alternate" and keys is not None:
            params["active"] = alternating_flips(keys, self.p).to(x.device)
        return params

    def source(self, coords, params, h, w):
        rows, cols, row_ok, col_ok = coords
        return rows, _flipped(cols, w, params["active"]), row_ok, col_ok


@transforms.register("vflip")
class VerticalFlip(IntegerMove):
    """Mirror top-bottom with probability ``p`` (not for digits or natural scenes)."""

    name, params = "vflip", ("vflip_p",)

    def draw(self, n, shape, generator) -> Params:
        return {}

    def source(self, coords, params, h, w):
        rows, cols, row_ok, col_ok = coords
        return _flipped(rows, h, params["active"]), cols, row_ok, col_ok


def first_flips(seed: int, size: int, p: float) -> torch.Tensor:
    """(size,) bool: which samples the alternating flip mirrors in epoch 0, each with
    probability ``p``, drawn from a generator of its own seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(size, generator=generator) < p


def alternating_flips(keys: SampleKeys, p: float) -> torch.Tensor:
    """(N,) bool mirror flags of the batch's samples in epoch ``keys.epoch``: epoch 0's
    draw (``first_flips``), inverted in every odd epoch."""
    table = _first_flips_cached(keys.seed, keys.size, p, keys.index.device)
    return table[keys.index] ^ bool(keys.epoch % 2)


@functools.lru_cache(maxsize=4)
def _first_flips_cached(seed: int, size: int, p: float, device: torch.device) -> torch.Tensor:
    # one table per run and device: drawing it is a pass over the whole split
    return first_flips(seed, size, p).to(device)


class _Shift(IntegerMove):
    fill = "zero"

    def source(self, coords, params, h, w):
        zero = torch.zeros_like(params["dy"])  # inactive samples: shift by 0 (exactly the input)
        dy = torch.where(params["active"], params["dy"], zero)
        dx = torch.where(params["active"], params["dx"], zero)
        return shift_coords(coords, dy, dx, h, w, self.fill)


@transforms.register("crop")
class RandomCrop(_Shift):
    """Pad by ``padding`` pixels (zero or reflect), then cut a random H x W window
    (course: "ořez"); the same as a shift by an integer in [-padding, padding] per axis."""

    name, params = "crop", ("crop_p", "crop_padding", "crop_fill")

    def __init__(self, p: float = 1.0, padding: int = 4, fill: str = "zero"):
        super().__init__(p)
        self.padding, self.fill = int(padding), _check_fill("crop", fill)

    def draw(self, n, shape, generator) -> Params:
        pad = self.padding
        return {"dy": randint(n, -pad, pad, generator), "dx": randint(n, -pad, pad, generator)}


@transforms.register("translate")
class Translate(_Shift):
    """Shift by up to ``max`` of the height/width (Keras's ``width_shift_range``),
    rounded to whole pixels; the uncovered border is zero or mirrored."""

    name, params = "translate", ("translate_p", "translate_max", "translate_fill")

    def __init__(self, p: float = 1.0, max: float = 0.1, fill: str = "zero"):
        super().__init__(p)
        self.max, self.fill = float(max), _check_fill("translate", fill)

    def draw(self, n, shape, generator) -> Params:
        my, mx = round(self.max * shape[-2]), round(self.max * shape[-1])
        return {"dy": randint(n, -my, my, generator), "dx": randint(n, -mx, mx, generator)}


# ---------------------------------------------------------------- resampling warps


def warp(x: torch.Tensor, matrix: torch.Tensor, fill: str = "zero") -> torch.Tensor:
    """Apply per-sample 2x2 linear maps about the image centre, in pixel units.

    ``matrix`` (N, 2, 2) maps input (col, row) offsets from the centre to output
    offsets. ``affine_grid`` wants the opposite direction (output -> input) in
    coordinates normalised to [-1, 1] per axis, so the inverse is conjugated by the
    per-axis scale D = diag(W/2, H/2) (keeps rotations true on non-square images).
    """
    n, _, h, w = x.shape
    inverse = torch.linalg.inv(matrix.double())
    scale = torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64, device=x.device)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64, device=x.device)
    theta[:, :, :2] = inverse * scale.view(1, 1, 2) / scale.view(1, 2, 1)  # D^-1 A^-1 D
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    mode = "zeros" if fill == "zero" else "reflection"
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=mode, align_corners=False)


@transforms.register("rotate")
class Rotate(Transform):
    """Rotate by an angle uniform in [-degrees, degrees] (course: "otočení"; beware 6 <-> 9)."""

    name, params = "rotate", ("rotate_p", "rotate_degrees", "rotate_fill")

    def __init__(self, p: float = 1.0, degrees: float = 15.0, fill: str = "zero"):
        super().__init__(p)
        self.degrees, self.fill = float(degrees), _check_fill("rotate", fill)

    def draw(self, n, shape, generator) -> Params:
        return {"angle": uniform(n, -self.degrees, self.degrees, generator)}

    def apply(self, x, y, params):
        a = degrees(params["angle"].double())
        cos, sin = torch.cos(a), torch.sin(a)
        matrix = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        return where_active(params["active"], warp(x, matrix, self.fill), x), y


@transforms.register("affine")
class ScaleShear(Transform):
    """Zoom by a factor uniform in [scale_min, scale_max] and shear horizontally by an
    angle uniform in [-shear, shear] degrees (course: "přiblížení, zešikmení"), as one
    warp per sample: A = [[1, tan(shear)], [0, 1]] @ (scale * I)."""

    name = "affine"
    params = ("affine_p", "affine_scale_min", "affine_scale_max", "affine_shear", "affine_fill")

    def __init__(self, p: float = 1.0, scale_min: float = 0.9, scale_max: float = 1.1,
                 shear: float = 10.0, fill: str = "zero"):
        super().__init__(p)
        if not 0 < scale_min <= scale_max:
            raise ValueError(f"augment.affine_scale_min/max: need 0 < scale_min <= scale_max, "
                             f"got {scale_min}, {scale_max}")
        self.scale_min, self.scale_max, self.shear = float(scale_min), float(scale_max), float(shear)
        self.fill = _check_fill("affine", fill)

    def draw(self, n, shape, generator) -> Params:
        return {"scale": uniform(n, self.scale_min, self.scale_max, generator),
                "shear": uniform(n, -self.shear, self.shear, generator)}

    def apply(self, x, y, params):
        s = params["scale"].double()
        t = torch.tan(degrees(params["shear"].double()))
        zero = torch.zeros_like(s)
        matrix = torch.stack([torch.stack([s, t * s], -1), torch.stack([zero, s], -1)], -2)
        return where_active(params["active"], warp(x, matrix, self.fill), x), y
