"""Colour transforms (course: "posun barev", "změna jasu/kontrastu") and Gaussian noise.

Each draws one factor per sample (per channel for the colour shift) and clips the
result to the valid range [0, 1], as the course's ``np.clip(rgb + [r, g, b], 0, 255)``.
Factors follow torchvision's ColorJitter conventions (multiplicative, centred on 1).
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch

from netcoach.augment.base import Params, Transform, device_generator, draw_seed, transforms, uniform, where_active

# ITU-R BT.601 luma weights, as PIL and torchvision use for grayscale.
LUMA = (0.299, 0.587, 0.114)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luminance; the channel mean for non-RGB images."""
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _need_rgb(name: str, x: torch.Tensor) -> None:
    if x.shape[1] != 3:
        raise ValueError(f"augmentation '{name}' needs RGB images (3 channels), got {x.shape[1]}; "
                         "remove it from augment.transforms for this dataset")


class _Factor(Transform):
    """A factor uniform in [1 - strength, 1 + strength] per sample."""

    def __init__(self, p: float = 1.0, strength: float = 0.2):
        super().__init__(p)
        if strength < 0:
            raise ValueError(f"augment.{self.name}: must be >= 0, got {strength}")
        self.strength = float(strength)

    @classmethod
    def from_config(cls, cfg, num_classes=None):
        return cls(getattr(cfg, f"{cls.name}_p"), getattr(cfg, cls.name))

    def draw(self, n, shape, generator) -> Params:
        return {"factor": uniform(n, 1 - self.strength, 1 + self.strength, generator)}

    @abstractmethod
    def mix(self, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        """The transformed batch before clipping."""

    def apply(self, x, y, params):
        factor = params["factor"].to(x.dtype).view(-1, 1, 1, 1)
        out = self.mix(x, factor).clamp_(0.0, 1.0)
        return where_active(params["active"], out, x), y


@transforms.register("brightness")
class Brightness(_Factor):
    """x * b, b uniform in [1 - brightness, 1 + brightness]."""

    name, params = "brightness", ("brightness_p", "brightness")

    def mix(self, x, factor):
        return x * factor


@transforms.register("contrast")
class Contrast(_Factor):
    """m + c (x - m), m = the image's mean luminance, c uniform in [1 - contrast, 1 + contrast]."""

    name, params = "contrast", ("contrast_p", "contrast")

    def mix(self, x, factor):
        mean = _gray(x).mean((2, 3), keepdim=True)
        return mean + factor * (x - mean)


@transforms.register("saturation")
class Saturation(_Factor):
    """g + s (x - g), g = the pixel's luminance, s uniform in [1 - saturation, 1 + saturation]."""

    name, params = "saturation", ("saturation_p", "saturation")

    def mix(self, x, factor):
        _need_rgb(self.name, x)
        gray = _gray(x)
        return gray + factor * (x - gray)


@transforms.register("hue")
class Hue(Transform):
    """Rotate the hue by h turns, h uniform in [-hue, hue] (at most 0.5).

    Implemented as a rotation of the chroma plane (I, Q) of YIQ space by 2*pi*h: one
    3x3 matrix per sample, so the batch is one ``einsum`` (exact HSV hue rotation
    needs per-pixel branching; the YIQ rotation is its standard linear approximation
    and keeps luminance exactly).
    """

    name, params = "hue", ("hue_p", "hue")

    RGB2YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))

    def __init__(self, p: float = 1.0, hue: float = 0.05):
        super().__init__(p)
        if not 0 <= hue <= 0.5:
            raise ValueError(f"augment.hue: must be in [0, 0.5] (turns of the colour wheel), got {hue}")
        self.hue = float(hue)

    def draw(self, n, shape, generator) -> Params:
        return {"turns": uniform(n, -self.hue, self.hue, generator)}

    def matrices(self, turns: torch.Tensor) -> torch.Tensor:
        """(N, 3, 3) RGB -> RGB maps: YIQ^-1 @ R(2 pi h) @ YIQ."""
        to_yiq = torch.tensor(self.RGB2YIQ, dtype=torch.float64, device=turns.device)
        a = turns.double() * 2 * math.pi
        rot = torch.zeros(len(turns), 3, 3, dtype=torch.float64, device=turns.device)
        rot[:, 0, 0] = 1.0
        rot[:, 1, 1], rot[:, 1, 2] = torch.cos(a), -torch.sin(a)
        rot[:, 2, 1], rot[:, 2, 2] = torch.sin(a), torch.cos(a)
        return torch.linalg.inv(to_yiq) @ rot @ to_yiq

    def apply(self, x, y, params):
        _need_rgb(self.name, x)
        m = self.matrices(params["turns"]).to(x.dtype)
        out = torch.einsum("nij,njhw->nihw", m, x).clamp_(0.0, 1.0)
        return where_active(params["active"], out, x), y


@transforms.register("color_shift")
class ColorShift(Transform):
    """Add a per-channel offset uniform in [-color_shift, color_shift] and clip: the
    course's ``np.clip(rgb + np.array([r, g, b]), 0, 255)`` in [0, 1] units."""

    name, params = "color_shift", ("color_shift_p", "color_shift")

    def __init__(self, p: float = 1.0, color_shift: float = 0.1):
        super().__init__(p)
        self.color_shift = float(color_shift)

    def draw(self, n, shape, generator) -> Params:
        c = shape[0]
        return {"offset": uniform(n * c, -self.color_shift, self.color_shift, generator).view(n, c)}

    def apply(self, x, y, params):
        out = (x + params["offset"].to(x.dtype)[:, :, None, None]).clamp_(0.0, 1.0)
        return where_active(params["active"], out, x), y


@transforms.register("noise")
class GaussianNoise(Transform):
    """Add N(0, std^2) noise to every pixel (course: "náhodné modifikace (+šum)") and clip.

    The noise itself comes from a device generator seeded from the CPU generator
    (see ``device_generator``): one seed crosses to the device, not a batch of noise.
    """

    name, params = "noise", ("noise_p", "noise_std")

    def __init__(self, p: float = 1.0, std: float = 0.03):
        super().__init__(p)
        if std < 0:
            raise ValueError(f"augment.noise_std: must be >= 0, got {std}")
        self.std = float(std)

    def draw(self, n, shape, generator) -> Params:
        return {"seed": draw_seed(generator)}

    def apply(self, x, y, params):
        gen = device_generator(params["seed"], x.device)
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        out = (x + self.std * noise).clamp_(0.0, 1.0)
        return where_active(params["active"], out, x), y
