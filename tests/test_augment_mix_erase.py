"""mixup, cutmix (corrected lambda), cutout, random erasing and GridMask against
the papers' formulas and hand-computed values."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from netcoach.augment import build_augment, transforms
from netcoach.augment.mix import soft_targets
from netcoach.config import AugmentConfig

K = 5


def make(name: str, **changes):
    changes.setdefault(f"{name}_p", 1.0)
    return transforms.get(name).from_config(dataclasses.replace(AugmentConfig(), **changes), num_classes=K)


def constant_images(n: int, h: int = 16, w: int = 16) -> torch.Tensor:
    """Image i is filled with the value i / n: where a pixel came from is readable."""
    return (torch.arange(n, dtype=torch.float32) / n).view(n, 1, 1, 1).expand(n, 3, h, w).clone()


def test_mixup_targets_sum_to_one_with_the_drawn_lambda():
    n = 32
    x, y = constant_images(n), torch.arange(n) % K
    t = make("mixup", mixup_alpha=0.4, mixup_p=0.75)
    params = t.sample(x, torch.Generator().manual_seed(0))
    out, target = t.apply(x, y, params)
    lam, j = t.lam(params), params["partner"]
    assert ((lam > 0) & (lam < 1)).any() and (lam == 1).any()  # mixed and unmixed samples
    expected_y = lam[:, None] * F.one_hot(y, K) + (1 - lam[:, None]) * F.one_hot(y[j], K)
    assert torch.allclose(target, expected_y.float(), atol=1e-6)
    assert torch.allclose(target.sum(1), torch.ones(n))
    expected_x = lam.float().view(-1, 1, 1, 1) * x + (1 - lam.float().view(-1, 1, 1, 1)) * x[j]
    assert torch.allclose(out, expected_x)


def test_mixup_lambda_follows_beta():
    t = make("mixup", mixup_alpha=0.5)
    lam = t.draw(20000, (3, 8, 8), torch.Generator().manual_seed(1))["lam"]
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) = 1/8 for a = 0.5
    assert abs(lam.mean().item() - 0.5) < 0.01
    assert abs(lam.var().item() - 0.125) < 0.005


def test_cutmix_lambda_is_the_pasted_pixel_ratio_exactly():
    n, h, w = 64, 16, 12
    x, y = constant_images(n, h, w), torch.arange(n) % K
    t = make("cutmix", cutmix_p=0.8)
    params = t.sample(x, torch.Generator().manual_seed(2))
    out, target = t.apply(x, y, params)
    lam, j = t.lam(params, h, w), params["partner"]
    pasted = (out != x).any(1).sum((1, 2))  # pixels that came from the partner, counted
    distinct = j != torch.arange(n)  # a sample paired with itself shows no box
    assert torch.equal(1.0 - pasted[distinct].double() / (h * w), lam[distinct])
    assert torch.allclose(target, (lam[:, None] * F.one_hot(y, K) + (1 - lam[:, None]) * F.one_hot(y[j], K)).float())
    assert ((lam > 0) & (lam < 1)).sum() > n // 2
    # the uncorrected lambda of the paper differs from the pixel ratio once the box is clipped
    assert not torch.allclose(lam[params["active"]], params["lam"][params["active"]])


def test_cutmix_hand_computed_box():
    """lam = 0.75 on 8x8: sides 8 * sqrt(0.25) = 4; centre (1, 6) clips the box to rows
    [0, 3), cols [4, 8): 12 pixels pasted, corrected lam = 1 - 12/64 = 0.8125."""
    t = make("cutmix")
    params = {"active": torch.tensor([True, True]), "partner": torch.tensor([1, 0]),
              "lam": torch.tensor([0.75, 0.75], dtype=torch.float64),
              "cut_h": torch.tensor([4, 4]), "cut_w": torch.tensor([4, 4]),
              "cy": torch.tensor([1, 4]), "cx": torch.tensor([6, 4])}
    lam = t.lam(params, 8, 8)
    assert lam.tolist() == [1 - 12 / 64, 0.75]
    out, target = t.apply(constant_images(2, 8, 8), torch.tensor([0, 3]), params)
    assert torch.allclose(target[0], torch.tensor([0.8125, 0, 0, 0.1875, 0]))
    assert (out[0, 0] != 0).nonzero().tolist() == [[r, c] for r in range(3) for c in range(4, 8)]


def test_mixing_composes_and_needs_classes():
    cfg = dataclasses.replace(AugmentConfig(), transforms=["mixup", "cutmix"], cutmix_p=1.0)
    x, y = constant_images(16), torch.arange(16) % K
    _, target = build_augment(cfg, num_classes=K)(x, y, torch.Generator().manual_seed(0))
    assert target.shape == (16, K) and torch.allclose(target.sum(1), torch.ones(16))
    with pytest.raises(ValueError, match="needs the number of classes"):
        soft_targets(y, None, "mixup")


def test_cutout_square_and_border_clipping():
    t = make("cutout", cutout_size=4, cutout_value=0.0)
    x = torch.ones(2, 3, 10, 10)
    params = {"active": torch.tensor([True, True]), "cy": torch.tensor([5, 0]), "cx": torch.tensor([5, 9])}
    out, _ = t.apply(x, None, params)
    assert (out[0, 0] == 0).nonzero().tolist() == [[r, c] for r in range(3, 7) for c in range(3, 7)]
    assert (out[1, 0] == 0).nonzero().tolist() == [[r, c] for r in range(0, 2) for c in range(7, 10)]


def test_random_erasing_area_is_within_bounds():
    t = make("erase", erase_area_min=0.1, erase_area_max=0.3)
    x = torch.full((256, 3, 32, 32), -1.0)  # the noise fill is in [0, 1): pixels >= 0 were erased
    out, _ = t(x, None, torch.Generator().manual_seed(3))
    area = (out[:, 0] >= 0).double().mean((1, 2))
    # sides are rounded and clipped, so allow a little slack around [0.1, 0.3]
    assert area.min() > 0.07 and area.max() < 0.36
    assert 0.17 < area.mean() < 0.23


def test_gridmask_erases_the_expected_fraction():
    """d = 8 divides 32: every sample loses exactly l^2 / d^2 with l = round((1 - r) d)."""
    t = make("gridmask", gridmask_d_min=8, gridmask_d_max=8, gridmask_r=0.5)
    x = torch.ones(16, 3, 32, 32)
    out, _ = t(x, None, torch.Generator().manual_seed(4))
    erased = (out[:, 0] == 0).double().mean((1, 2))
    assert torch.equal(erased, torch.full((16,), 0.25, dtype=torch.float64))  # (1 - 0.5)^2
    assert t.expected_erased() == 0.25


def test_gridmask_fraction_with_random_unit_size():
    t = make("gridmask", gridmask_d_min=6, gridmask_d_max=14, gridmask_r=0.6)
    x = torch.ones(512, 1, 64, 64)
    out, _ = t(x, None, torch.Generator().manual_seed(5))
    erased = (out[:, 0] == 0).double().mean().item()
    assert abs(erased - t.expected_erased()) < 0.02  # (1 - 0.6)^2 = 0.16


def test_gridmask_pattern_offsets():
    """d = 4, r = 0.5, offsets (1, 2): erased rows 1-2 and cols 2-3 of every unit."""
    t = make("gridmask", gridmask_r=0.5)
    params = {"active": torch.tensor([True]), "d": torch.tensor([4]), "l": torch.tensor([2]),
              "dy": torch.tensor([1]), "dx": torch.tensor([2])}
    mask = t.keep(params, 8, 8)[0, 0] == 0
    rows = torch.tensor([0, 1, 1, 0, 0, 1, 1, 0], dtype=torch.bool)
    cols = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1], dtype=torch.bool)
    assert torch.equal(mask, rows[:, None] & cols[None, :])
