"""Batched augmentation vs the same work done per sample in a Python loop.

1. The goal line: flip + crop (padding 4), and flip + translate (up to 4 pixels), on
   uint8 batches of 512 CIFAR-sized images (3x32x32), as the training loader runs them
   (netcoach's pipeline gets the stored uint8 batch and moves pixels before the float
   conversion), vs a lean hand-written per-sample torch loop of the same moves on uint8
   (flip, ``F.pad``, slice copy). Goal: >= 10x.
2. For context, on float batches in [0, 1]: flip + crop + cutout (8x8), batched vs the
   hand-written loop and vs netcoach's transforms called on one image at a time.

One thread, so neither side gains from parallelism. Time is the thread's CPU time
(``time.thread_time``): on a shared, oversubscribed machine wall-clock time mostly
measures how long the process waited for a core. The functions take turns in each of
ROUNDS rounds (a busy spell hits both; the order rotates), each turn BLOCK batches in a
row; the ratio printed is the median of the per-round ratios, the rates are medians too.
(Timing one batch per turn gives the batched side cold caches after every per-sample
turn, about 0.6x its rate in a row.)

Run: PYTHONPATH=$PWD python bench/augment.py
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from netcoach.augment import build_augment
from netcoach.config import AugmentConfig

N, C, H, W = 512, 3, 32, 32
PAD, CUT = 4, 8
ROUNDS = 15
BLOCK = 5  # batches per turn


def hand_flip_crop(x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    """Lean baseline: per-sample flip, zero-padded crop (a translation by -PAD..PAD)."""
    out = torch.empty_like(x)
    for i in range(len(x)):
        img = x[i]
        if float(torch.rand(1, generator=g)) < 0.5:
            img = img.flip(-1)
        padded = F.pad(img, (PAD, PAD, PAD, PAD))
        oy, ox = torch.randint(0, 2 * PAD + 1, (2,), generator=g).tolist()
        out[i] = padded[:, oy:oy + H, ox:ox + W]
    return out, y


def hand_flip_crop_cutout(x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    """Lean baseline on floats: per-sample flip, padded crop and cutout."""
    out = torch.empty_like(x)
    for i in range(len(x)):
        img = x[i]
        if float(torch.rand(1, generator=g)) < 0.5:
            img = img.flip(-1)
        padded = F.pad(img, (PAD, PAD, PAD, PAD))
        oy, ox = torch.randint(0, 2 * PAD + 1, (2,), generator=g).tolist()
        img = padded[:, oy:oy + H, ox:ox + W].clone()
        cy, cx = torch.randint(0, H, (2,), generator=g).tolist()
        img[:, max(cy - CUT // 2, 0):cy + CUT // 2, max(cx - CUT // 2, 0):cx + CUT // 2] = 0.0
        out[i] = img
    return out, y


def rounds(fns: dict, x, y, n_rounds: int = ROUNDS, block: int = 1) -> dict:
    """CPU seconds per call of each function, one list per function, taking turns; the
    order rotates every round. Each turn times ``block`` calls in a row, as a loader
    augments one batch after another: a single call timed right after the other side's
    turn mostly measures the cold caches that turn left behind."""
    g = torch.Generator().manual_seed(0)
    times = {name: [] for name in fns}
    names = list(fns)
    for fn in fns.values():
        fn(x, y, g)  # warm-up
    for r in range(n_rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.thread_time()
            for _ in range(block):
                fns[name](x, y, g)
            times[name].append((time.thread_time() - start) / block)
    return times


def median_ratio(slow: list[float], fast: list[float]) -> float:
    return statistics.median(s / f for s, f in zip(slow, fast))


def rate(times: list[float]) -> float:
    return N / statistics.median(times)


def on_uint8(cfg: AugmentConfig):
    """The pipeline as the loader runs it on a stored uint8 batch (no conversion here:
    the moves alone are timed, as the hand loop does only the moves)."""
    pipeline = build_augment(cfg)
    return lambda xb, yb, g: pipeline.from_stored(xb, yb, g, lambda b: b)


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    x8 = torch.randint(0, 256, (N, C, H, W), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (N,), generator=g)
    crop = on_uint8(AugmentConfig(transforms=["hflip", "crop"], crop_padding=PAD))
    translate = on_uint8(AugmentConfig(transforms=["hflip", "translate"], translate_max=PAD / W))
    t = rounds({"hand": hand_flip_crop, "crop": crop, "translate": translate}, x8, y, block=BLOCK)
    print(f"flip + crop/translate on {N}x{C}x{H}x{W} uint8 batches, CPU, 1 thread, {ROUNDS} paired "
          f"rounds of {BLOCK} batches each (CPU time, medians)")
    print(f"per-sample loop, hand-written torch (flip, pad, crop): {rate(t['hand']):12,.0f} images/s")
    print(f"batched netcoach flip + crop:                        {rate(t['crop']):12,.0f} images/s")
    print(f"batched netcoach flip + translate:                   {rate(t['translate']):12,.0f} images/s")

    xf = x8.float() / 255.0
    pipeline = build_augment(AugmentConfig(transforms=["hflip", "crop", "cutout"], crop_padding=PAD,
                                           cutout_size=CUT))

    def same_loop(xb, yb, gen):
        outs = [pipeline(xb[i:i + 1], yb[i:i + 1], gen)[0] for i in range(len(xb))]
        return torch.cat(outs), yb

    f = rounds({"same": same_loop, "hand": hand_flip_crop_cutout, "batched": pipeline}, xf, y, 5)
    print(f"context, flip + crop + cutout on float batches: batched {rate(f['batched']):,.0f} images/s; "
          f"{median_ratio(f['hand'], f['batched']):.1f}x the hand-written loop, "
          f"{median_ratio(f['same'], f['batched']):.1f}x netcoach's transforms one image at a time")
    print(f"speed-up batched flip + translate (uint8) / hand-written per-sample loop: "
          f"{median_ratio(t['hand'], t['translate']):.1f}x")
    print(f"speed-up batched flip + crop (uint8) / hand-written per-sample loop: "
          f"{median_ratio(t['hand'], t['crop']):.1f}x")


if __name__ == "__main__":
    main()
