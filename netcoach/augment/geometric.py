"""Geometric transforms: flips, crop with padding, translation, rotation, scale + shear.

Integer moves (crop, translation) are two ``gather`` calls on a padded batch, so
pixels are copied exactly; rotation and scale/shear build one 2x3 affine matrix
per sample and resample the whole batch with one ``affine_grid`` + ``grid_sample``
(bilinear) call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from netcoach.augment.base import Params, Transform, degrees, randint, transforms, uniform, where_active

FILLS = ("zero", "reflect")


def _check_fill(name: str, fill: str) -> str:
    if fill not in FILLS:
        raise ValueError(f"augment.{name}_fill: {fill!r} is not valid; choose one of: {', '.join(FILLS)}")
    return fill


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, pad: int, fill: str = "zero") -> torch.Tensor:
    """Move sample n's content by (dy[n], dx[n]) pixels: out[n, :, i, j] = x[n, :, i - dy, j - dx].

    Pixels that come from outside the image are zero (``fill="zero"``) or mirrored
    (``"reflect"``). ``pad`` must be >= max |dy|, |dx|.

    Example:
        >>> x = torch.arange(4.).view(1, 1, 1, 4)
        >>> shift(x, torch.tensor([0]), torch.tensor([1]), pad=1).flatten().tolist()
        [0.0, 0.0, 1.0, 2.0]
    """
    n, c, h, w = x.shape
    if pad == 0:
        return x
    xp = F.pad(x, (pad, pad, pad, pad), mode="constant" if fill == "zero" else "reflect")
    rows = (pad - dy).view(n, 1) + torch.arange(h, device=x.device)  # (N, H) rows of xp to read
    cols = (pad - dx).view(n, 1) + torch.arange(w, device=x.device)  # (N, W)
    xr = xp.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * pad))
    return xr.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


@transforms.register("hflip")
class HorizontalFlip(Transform):
    """Mirror left-right with probability ``p`` (course: "zrcadlení")."""

    name, params = "hflip", ("hflip_p",)

    def draw(self, n, shape, generator) -> Params:
        return {}

    def apply(self, x, y, params):
        return where_active(params["active"], x.flip(-1), x), y


@transforms.register("vflip")
class VerticalFlip(Transform):
    """Mirror top-bottom with probability ``p`` (not for digits or natural scenes)."""

    name, params = "vflip", ("vflip_p",)

    def draw(self, n, shape, generator) -> Params:
        return {}

    def apply(self, x, y, params):
        return where_active(params["active"], x.flip(-2), x), y


@transforms.register("crop")
class RandomCrop(Transform):
    """Pad by ``padding`` pixels (zero or reflect), then cut a random H x W window
    (course: "ořez"); the same as a shift by an integer in [-padding, padding] per axis."""

    name, params = "crop", ("crop_p", "crop_padding", "crop_fill")

    def __init__(self, p: float = 1.0, padding: int = 4, fill: str = "zero"):
        super().__init__(p)
        self.padding, self.fill = int(padding), _check_fill("crop", fill)

    def draw(self, n, shape, generator) -> Params:
        pad = self.padding
        return {"dy": randint(n, -pad, pad, generator), "dx": randint(n, -pad, pad, generator)}

    def apply(self, x, y, params):
        moved = shift(x, params["dy"], params["dx"], self.padding, self.fill)
        return where_active(params["active"], moved, x), y


@transforms.register("translate")
class Translate(Transform):
    """Shift by up to ``max`` of the height/width (Keras's ``width_shift_range``),
    rounded to whole pixels; the uncovered border is zero or mirrored."""

    name, params = "translate", ("translate_p", "translate_max", "translate_fill")

    def __init__(self, p: float = 1.0, max: float = 0.1, fill: str = "zero"):
        super().__init__(p)
        self.max, self.fill = float(max), _check_fill("translate", fill)

    def _limits(self, shape) -> tuple[int, int]:
        return round(self.max * shape[-2]), round(self.max * shape[-1])

    def draw(self, n, shape, generator) -> Params:
        my, mx = self._limits(shape)
        return {"dy": randint(n, -my, my, generator), "dx": randint(n, -mx, mx, generator)}

    def apply(self, x, y, params):
        pad = max(self._limits(x.shape))
        moved = shift(x, params["dy"], params["dx"], pad, self.fill)
        return where_active(params["active"], moved, x), y


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
