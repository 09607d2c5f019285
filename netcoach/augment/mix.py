"""Label-mixing transforms: mixup and cutmix. Both return soft targets (N, K).

Each sample is paired with another sample of the same batch (a random
permutation). Targets that are already soft (an earlier mixing transform) are
mixed again, so mixup and cutmix compose.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from netcoach.augment.base import Params, Transform, beta, box_mask, randint, transforms


def soft_targets(y: torch.Tensor, num_classes: Optional[int], name: str) -> torch.Tensor:
    """(N, K) float probabilities from class indices (one-hot) or already-soft targets."""
    if y.dim() == 2:
        return y.float()
    if num_classes is None:
        raise ValueError(f"augmentation '{name}' mixes labels and needs the number of classes; "
                         "build the pipeline with build_augment(cfg, num_classes=K)")
    return F.one_hot(y, num_classes).float()


class _Mix(Transform):
    needs_classes = True

    def __init__(self, p: float = 1.0, alpha: float = 1.0, num_classes: Optional[int] = None):
        super().__init__(p)
        if alpha <= 0:
            raise ValueError(f"augment.{self.name}_alpha: Beta(alpha, alpha) needs alpha > 0, got {alpha}")
        self.alpha, self.num_classes = float(alpha), num_classes

    def draw_pairing(self, n: int, generator: torch.Generator) -> Params:
        """The partner of each sample and lambda ~ Beta(alpha, alpha), one per sample."""
        return {"partner": torch.randperm(n, generator=generator), "lam": beta(n, self.alpha, generator)}

    def mix_targets(self, y: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """y~ = lam y_i + (1 - lam) y_j (the mixup paper's label rule)."""
        soft = soft_targets(y, self.num_classes, self.name)
        lam = lam.to(soft.dtype).view(-1, 1)
        return lam * soft + (1 - lam) * soft[partner]


@transforms.register("mixup")
class Mixup(_Mix):
    """mixup (Zhang et al. 2018): x~ = lam x_i + (1 - lam) x_j, y~ = lam y_i + (1 - lam) y_j,
    lam ~ Beta(alpha, alpha). The course's loop draws one lam per batch; here each
    sample draws its own (same expectation, less variance between batches).
    Samples not selected (probability 1 - p) keep lam = 1."""

    name, params = "mixup", ("mixup_p", "mixup_alpha")

    def __init__(self, p: float = 1.0, alpha: float = 0.2, num_classes: Optional[int] = None):
        super().__init__(p, alpha, num_classes)

    def draw(self, n, shape, generator) -> Params:
        return self.draw_pairing(n, generator)

    def lam(self, params: Params) -> torch.Tensor:
        """The lambda each sample was mixed with (1 for inactive samples)."""
        return torch.where(params["active"], params["lam"], torch.ones_like(params["lam"]))

    def apply(self, x, y, params):
        lam = self.lam(params)
        w = lam.to(x.dtype).view(-1, 1, 1, 1)
        return w * x + (1 - w) * x[params["partner"]], self.mix_targets(y, params["partner"], lam)


@transforms.register("cutmix")
class CutMix(_Mix):
    """CutMix (Yun et al. 2019): paste a box of the partner image; y~ = lam y_i + (1 - lam) y_j.

    The box is sized from lam ~ Beta(alpha, alpha) (sides H sqrt(1 - lam),
    W sqrt(1 - lam), centre uniform, clipped at the border), and lam is then
    corrected to the pixel ratio actually kept, lam = 1 - box area / (H W). The
    course points out that the paper's formula and its code differ here; the
    corrected form (the code's) is the one whose label matches the image.
    """

    name, params = "cutmix", ("cutmix_p", "cutmix_alpha")

    def __init__(self, p: float = 0.5, alpha: float = 1.0, num_classes: Optional[int] = None):
        super().__init__(p, alpha, num_classes)

    def draw(self, n, shape, generator) -> Params:
        _, h, w = shape
        params = self.draw_pairing(n, generator)
        cut = torch.sqrt(1.0 - params["lam"])
        params["cut_h"], params["cut_w"] = (h * cut).long(), (w * cut).long()  # as int() in the code
        params["cy"], params["cx"] = randint(n, 0, h - 1, generator), randint(n, 0, w - 1, generator)
        return params

    def box(self, params: Params, h: int, w: int):
        """(top, left, bottom, right) per sample, clipped; empty for inactive samples."""
        half_h, half_w = params["cut_h"] // 2, params["cut_w"] // 2
        top, bottom = (params["cy"] - half_h).clamp(0, h), (params["cy"] + half_h).clamp(0, h)
        left, right = (params["cx"] - half_w).clamp(0, w), (params["cx"] + half_w).clamp(0, w)
        bottom = torch.where(params["active"], bottom, top)
        return top, left, bottom, right

    def lam(self, params: Params, h: int, w: int) -> torch.Tensor:
        """The corrected lambda: the fraction of pixels that stay from the sample itself."""
        top, left, bottom, right = self.box(params, h, w)
        return 1.0 - ((bottom - top) * (right - left)).double() / (h * w)

    def apply(self, x, y, params):
        h, w = x.shape[2], x.shape[3]
        mask = box_mask(h, w, *self.box(params, h, w))
        mixed = torch.where(mask, x[params["partner"]], x)
        return mixed, self.mix_targets(y, params["partner"], self.lam(params, h, w))
