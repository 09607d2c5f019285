"""Properties every registered transform must have (parametrized over the registry),
plus the geometric and colour transforms' own behaviour."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from netcoach.augment import build_augment, transforms
from netcoach.augment.geometric import shift
from netcoach.config import AugmentConfig

NAMES = transforms.names()
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
K = 10


def make(name: str, **changes):
    """The transform ``name`` built from the default config with ``changes`` (p = 1 by default)."""
    changes.setdefault(f"{name}_p", 1.0)
    return transforms.get(name).from_config(dataclasses.replace(AugmentConfig(), **changes), num_classes=K)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def clone(g: torch.Generator) -> torch.Generator:
    copy = torch.Generator()
    copy.set_state(g.get_state())
    return copy


def batch(n=8, c=3, h=16, w=16, device="cpu"):
    g = gen(123)
    return torch.rand(n, c, h, w, generator=g).to(device), torch.randint(0, K, (n,), generator=g).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_range_kept(name, device):
    x, y = batch(device=device)
    out, target = make(name)(x, y, gen())
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, x), f"{name} with p=1 left the batch unchanged"
    if transforms.get(name).needs_classes:
        assert target.shape == (len(y), K) and torch.allclose(target.sum(1), torch.ones(len(y), device=device))
    else:
        assert torch.equal(target, y)


@pytest.mark.parametrize("name", NAMES)
def test_p_zero_is_identity(name):
    x, y = batch()
    out, target = make(name, **{f"{name}_p": 0.0})(x, y, gen())
    assert torch.equal(out, x)
    expected = torch.nn.functional.one_hot(y, K).float() if target.dim() == 2 else y
    assert torch.equal(target, expected)


@pytest.mark.parametrize("name", NAMES)
def test_same_generator_state_same_output(name):
    x, y = batch()
    t = make(name, **{f"{name}_p": 0.5})  # p < 1: which samples change is random too
    a, ya = t(x, y, gen(7))
    b, yb = t(x, y, gen(7))
    c, _ = t(x, y, gen(8))
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_per_sample(name):
    """Two copies of one image in a batch get different random treatment."""
    x, y = batch(n=2)
    x = x[:1].repeat(64, 1, 1, 1)
    y = y[:1].repeat(64)
    t = make(name, **{f"{name}_p": 0.5})
    if t.needs_classes:  # mixing partners must differ, or the copies stay copies
        x[32:] = batch(n=1)[0].flip(-1)
    out, _ = t(x, y, gen())
    kinds = len(torch.unique(out.flatten(1), dim=0))
    assert kinds == 2 if name in ("hflip", "vflip") else kinds > 2  # a flip has two outcomes


def test_flip_twice_is_identity():
    x, y = batch()
    for name in ("hflip", "vflip"):
        t = make(name, **{f"{name}_p": 0.5})
        params = t.sample(x, gen(3))
        once, _ = t.apply(x, y, params)
        twice, _ = t.apply(once, y, params)
        assert torch.equal(twice, x)
        flipped = params["active"]
        assert 0 < flipped.sum() < len(x)  # both cases exercised
        assert torch.equal(once[flipped], x[flipped].flip(-1 if name == "hflip" else -2))


@pytest.mark.parametrize("name", ["translate", "crop"])
def test_translation_moves_content_by_drawn_amount(name):
    n, h, w = 16, 20, 20
    x = torch.zeros(n, 1, h, w)
    x[:, :, 10, 9] = 1.0  # one bright pixel, far enough from the border for any shift
    t = make(name, translate_max=0.2, crop_padding=4)
    g = gen(5)
    params = t.sample(x, clone(g))
    out, _ = t(x, torch.zeros(n, dtype=torch.long), g)
    assert params["dy"].abs().max() > 0 and params["dx"].abs().max() > 0
    for i in range(n):
        row, col = divmod(int(out[i, 0].argmax()), w)
        assert (row, col) == (10 + int(params["dy"][i]), 9 + int(params["dx"][i]))
        assert out[i].sum() == 1.0


@pytest.mark.parametrize("fill", ["zero", "reflect"])
def test_crop_matches_pad_and_slice(fill):
    x, y = batch(n=6, h=8, w=8)
    t = make("crop", crop_padding=3, crop_fill=fill)
    params = t.sample(x, gen(1))
    out, _ = t.apply(x, y, params)
    mode = "constant" if fill == "zero" else "reflect"
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3), mode=mode)
    for i in range(len(x)):  # crop offset = padding - shift
        top, left = 3 - int(params["dy"][i]), 3 - int(params["dx"][i])
        assert torch.equal(out[i], padded[i, :, top:top + 8, left:left + 8])


def test_shift_docstring_example():
    x = torch.arange(4.0).view(1, 1, 1, 4)
    assert shift(x, torch.tensor([0]), torch.tensor([-1])).flatten().tolist() == [1.0, 2.0, 3.0, 0.0]


def test_rotation_by_90_degrees_is_rot90():
    x, y = batch(n=2, h=8, w=8)
    t = make("rotate")
    params = {"active": torch.tensor([True, True]), "angle": torch.tensor([90.0, -90.0])}
    out, _ = t.apply(x, y, params)
    # rows point down on screen, so +90 degrees is clockwise: torch.rot90 with k = -1
    assert torch.allclose(out[0], torch.rot90(x[0], -1, (1, 2)), atol=1e-6)
    assert torch.allclose(out[1], torch.rot90(x[1], 1, (1, 2)), atol=1e-6)


def test_affine_scale_and_shear_values():
    x, y = batch(n=3, h=8, w=8)
    t = make("affine")
    ident = {"active": torch.tensor([True] * 3), "scale": torch.ones(3), "shear": torch.zeros(3)}
    assert torch.allclose(t.apply(x, y, ident)[0], x, atol=1e-6)
    # zoom x2 about the centre: output pixel (r, c) reads input (3.5 + (r - 3.5) / 2, ...)
    zoom = {"active": torch.tensor([True] * 3), "scale": torch.full((3,), 2.0), "shear": torch.zeros(3)}
    out = t.apply(x, y, zoom)[0]
    # output pixel (3, 3) is 0.5 left/up of the centre 3.5 -> input 3.5 - 0.25 = 3.25: bilinear weights 3/4, 1/4
    centre = x[..., 3:5, 3:5]
    w = torch.tensor([[0.75 * 0.75, 0.75 * 0.25], [0.25 * 0.75, 0.25 * 0.25]])
    assert torch.allclose(out[..., 3, 3], (centre * w).sum((-2, -1)), atol=1e-5)


def test_color_shift_is_the_course_formula():
    """out = clip(rgb + [r, g, b]) per sample, in [0, 1] units."""
    x = torch.tensor([0.2, 0.5, 0.95]).view(1, 3, 1, 1).repeat(1, 1, 2, 2)
    t = make("color_shift")
    params = {"active": torch.tensor([True]), "offset": torch.tensor([[0.1, -0.6, 0.1]])}
    out, _ = t.apply(x, None, params)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.3, 0.0, 1.0]))


def test_brightness_contrast_saturation_values():
    x, y = batch(n=2)
    active = torch.tensor([True, True])
    out = make("brightness").apply(x, y, {"active": active, "factor": torch.tensor([0.5, 1.0])})[0]
    assert torch.allclose(out[0], x[0] * 0.5) and torch.equal(out[1], x[1])
    gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    out = make("saturation").apply(x, y, {"active": active, "factor": torch.tensor([0.0, 0.0])})[0]
    assert torch.allclose(out, gray.expand_as(x), atol=1e-6)  # saturation 0 = grayscale
    out = make("contrast").apply(x, y, {"active": active, "factor": torch.tensor([0.0, 0.0])})[0]
    assert torch.allclose(out, gray.mean((2, 3), keepdim=True).expand_as(x), atol=1e-6)


def test_hue_rotation_keeps_luma_and_full_turn_is_identity():
    x, y = batch(n=2)
    t = make("hue")
    x = x * 0.2 + 0.4  # far from 0 and 1, so clipping does not interfere
    out = t.apply(x, y, {"active": torch.tensor([True, True]), "turns": torch.tensor([0.1, -0.1])})[0]
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((out * luma).sum(1), (x * luma).sum(1), atol=1e-5)
    assert (out - x).abs().max() > 0.01
    m = t.matrices(torch.tensor([1.0, 0.0]))
    assert torch.allclose(m, torch.eye(3, dtype=m.dtype).expand(2, 3, 3), atol=1e-6)


def test_noise_has_the_configured_std():
    x = torch.full((64, 3, 16, 16), 0.5)
    out, _ = make("noise", noise_std=0.05)(x, None, gen())
    assert math.isclose(float((out - x).std()), 0.05, rel_tol=0.03)


def test_rgb_only_transforms_explain_grayscale():
    x, y = batch(c=1)
    with pytest.raises(ValueError, match="needs RGB images"):
        make("hue")(x, y, gen())


def test_pipeline_runs_in_config_order():
    cfg = dataclasses.replace(AugmentConfig(), transforms=["hflip", "crop"], hflip_p=1.0, crop_padding=2)
    x, y = batch()
    out, _ = build_augment(cfg)(x, y, gen(4))
    g = gen(4)
    expected, _ = make("hflip")(x, y, g)
    expected, _ = make("crop", crop_padding=2)(expected, y, g)
    assert torch.equal(out, expected)
    assert build_augment(AugmentConfig()) is None
