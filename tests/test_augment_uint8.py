"""Flips, crops and translations on stored uint8 batches: the fast copy (``flip_shift``)
and the pixel moves run before the float conversion give exactly what the transforms
give one by one on float batches, with the same random draws; the loader uses them."""

from __future__ import annotations

import hashlib

import pytest
import torch

from netcoach.augment import build_augment, transforms
from netcoach.augment.geometric import IntegerMoves, flip_shift
from netcoach.augment.pipeline import fuse
from netcoach.config import AugmentConfig
from netcoach.data import DeviceLoader, Split
from netcoach.utils.runtime import make_generator

CONFIGS = [
    dict(transforms=["hflip", "crop"], crop_padding=4),
    dict(transforms=["crop", "hflip"], crop_padding=3, hflip_p=0.7),
    dict(transforms=["vflip", "hflip", "translate"], translate_max=0.25, vflip_p=0.5),
    dict(transforms=["hflip", "translate", "vflip"], translate_max=0.2, translate_p=0.6),
    dict(transforms=["crop"], crop_padding=5, crop_p=0.5),
    dict(transforms=["hflip"]),
    dict(transforms=["hflip", "crop", "cutout"], crop_padding=2, cutout_size=4),  # general path
    dict(transforms=["crop", "translate"], crop_padding=2, translate_max=0.2),  # two shifts
    dict(transforms=["hflip", "crop", "brightness"], crop_padding=2, crop_fill="reflect"),
]


def batch(n=37, c=3, h=11, w=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g), torch.arange(n) % 3


def one_by_one(cfg: AugmentConfig, x: torch.Tensor, y, seed: int):
    """The transforms applied one at a time on the float batch (no fusing, no uint8)."""
    g = torch.Generator().manual_seed(seed)
    for name in cfg.transforms:
        x, y = transforms.get(name).from_config(cfg)(x, y, g)
    return x


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "+".join(kw["transforms"]))
def test_uint8_pipeline_equals_the_transforms_one_by_one_on_floats(kw):
    cfg = AugmentConfig(**kw)
    x, y = batch()
    want = one_by_one(cfg, x.float() / 255.0, y, seed=5)
    got, _ = build_augment(cfg).from_stored(x, y, torch.Generator().manual_seed(5),
                                            lambda b: b.float().div_(255.0))
    assert torch.equal(got, want)
    float_path, _ = build_augment(cfg)(x.float() / 255.0, y, torch.Generator().manual_seed(5))
    assert torch.equal(float_path, want)


def test_flip_and_one_zero_shift_take_the_fast_copy_and_others_do_not():
    def run(**kw):
        return fuse([transforms.get(n).from_config(AugmentConfig(**kw)) for n in kw["transforms"]])[0]

    assert run(transforms=["hflip", "crop"]).is_flip_shift()
    assert run(transforms=["vflip", "translate", "hflip"]).is_flip_shift()
    assert not run(transforms=["crop", "translate"]).is_flip_shift()  # zeros of the first shift move
    assert not run(transforms=["hflip", "crop"], crop_fill="reflect").is_flip_shift()
    fused = run(transforms=["hflip", "crop", "cutout"])
    assert isinstance(fused, IntegerMoves) and fused.erasers and not fused.is_flip_shift()


@pytest.mark.parametrize("mirror_all", [False, True])  # True: the accelerator's sync-free way
def test_flip_shift_reads_the_hand_computed_pixels(mirror_all):
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.uint8).view(2, 1, 3, 4)
    # sample 0: columns mirrored (source col 3 - j), rows moved down by 1 (source row i - 1)
    # sample 1: identity rows, columns read j + 2 (content moves left by 2)
    fy, fx = torch.tensor([False, False]), torch.tensor([True, False])
    out = flip_shift(x, fy, torch.tensor([-1, 0]), fx, torch.tensor([0, 2]), (1, 2), mirror_all=mirror_all)
    assert out[0, 0].tolist() == [[0, 0, 0, 0], [3, 2, 1, 0], [7, 6, 5, 4]]
    assert out[1, 0].tolist() == [[14, 15, 0, 0], [18, 19, 0, 0], [22, 23, 0, 0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64, torch.int32])
def test_flip_shift_zeros_are_exact_in_every_dtype_whatever_the_values(dtype):
    # the border zeros come from masking the values' bits: no -0.0 from negative values and
    # no NaN leaking from a NaN neighbour (a multiply by 0 would give both)
    x = -torch.arange(1, 1 + 2 * 2 * 3 * 4).to(dtype).view(2, 2, 3, 4)
    if dtype.is_floating_point:
        x[0, 0, 2, 3] = float("nan")  # read by nothing: it lies where sample 0's shift leaves
    fy, fx = torch.tensor([True, False]), torch.tensor([False, True])
    out = flip_shift(x, fy, torch.tensor([1, -1]), fx, torch.tensor([-1, 1]), (1, 1))
    want = torch.zeros_like(x)
    want[0, :, :2, 1:] = x[0].flip(-2)[:, 1:, :3]  # rows i + 1 of the vertical mirror, columns j - 1
    want[1, :, 1:, :3] = x[1].flip(-1)[:, :2, 1:]
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()]
    assert torch.equal(out.view(bits), want.view(bits))  # bit for bit: -0.0 would equal 0.0 as floats


def test_mirroring_every_sample_gives_the_same_batch_as_mirroring_only_the_flipped():
    x, _ = batch(n=29)
    g = torch.Generator().manual_seed(2)
    fy, fx = torch.rand(29, generator=g) < 0.5, torch.rand(29, generator=g) < 0.5
    ry, rx = torch.randint(-2, 3, (29,), generator=g), torch.randint(-3, 4, (29,), generator=g)
    some, every = (flip_shift(x, fy, ry, fx, rx, (2, 3), mirror_all=m) for m in (False, True))
    assert torch.equal(some, every)


def test_the_training_loader_moves_pixels_before_the_float_conversion(monkeypatch):
    x, y = batch(n=20)
    cfg = AugmentConfig(transforms=["hflip", "crop", "contrast"], crop_padding=3)
    moved = []
    real_call = IntegerMoves.__call__
    monkeypatch.setattr(IntegerMoves, "__call__", lambda self, b, t, g, keys=None: moved.append(b.dtype) or real_call(self, b, t, g, keys))

    def batches(pipeline):
        loader = DeviceLoader(Split(x, y), 8, scale=255.0, shuffle=True, generator=make_generator(3, 1),
                              transform=pipeline, aug_generator=make_generator(3, 2))
        return [b for b, _ in loader]

    pipeline = build_augment(cfg)
    got = batches(pipeline)
    assert moved == [torch.uint8] * 3  # the loader gives netcoach's pipeline the stored batch
    plain = batches(lambda b, t, g: pipeline(b, t, g))  # any other callable gets floats
    assert moved[3:] == [torch.float32] * 3
    assert len(got) == 3 and all(torch.equal(a, b) for a, b in zip(got, plain))


def test_the_reused_scratch_buffers_give_exact_batches_across_batches_of_other_sizes():
    cfg = AugmentConfig(transforms=["hflip", "translate"], translate_max=0.3)
    pipeline = build_augment(cfg)  # one pipeline, so one FlipShiftScratch for every batch
    for n, seed in ((37, 1), (37, 2), (12, 3), (80, 4)):  # smaller, then larger than the buffer
        x, y = batch(n=n, seed=seed)
        want = one_by_one(cfg, x.float() / 255.0, y, seed=seed)
        got, _ = pipeline.from_stored(x, y, torch.Generator().manual_seed(seed), lambda b: b.float().div_(255.0))
        assert torch.equal(got, want), n


# sha256 (first 16 hex digits) of the float batch each config gives for a fixed batch and
# generator seed: a change to the random draws or to the pixel arithmetic changes them.
# Update a value only for such a deliberate change (and say which in the commit).
PINNED = [
    (dict(transforms=["hflip", "crop"], crop_padding=4), "80f97216327a76dd"),
    (dict(transforms=["crop", "hflip"], crop_padding=3, hflip_p=0.7), "e809b8f2ef0e5955"),
    (dict(transforms=["vflip", "hflip", "translate"], translate_max=0.25, vflip_p=0.5), "8cce1fcd543fd43f"),
    (dict(transforms=["hflip", "crop", "cutout"], crop_padding=2, cutout_size=4), "1c9e7435b3bac7cc"),
    (dict(transforms=["gridmask", "erase"]), "8623060ff9e4e32a"),
    (dict(transforms=["crop", "translate"], crop_padding=2, translate_max=0.2), "7eaa3a94f487f4a0"),
]


@pytest.mark.parametrize("kw,digest", PINNED, ids=lambda v: "+".join(v["transforms"]) if isinstance(v, dict) else "")
def test_a_seed_gives_the_pinned_augmented_batch(kw, digest):
    x = torch.randint(0, 256, (64, 3, 12, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(11))
    out, _ = build_augment(AugmentConfig(**kw)).from_stored(x, torch.arange(64) % 5, torch.Generator().manual_seed(3),
                                                           lambda b: b.float().div_(255.0))
    assert hashlib.sha256(out.numpy().tobytes()).hexdigest()[:16] == digest
