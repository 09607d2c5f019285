"""Batched augmentation vs the same transforms applied per sample in a Python loop.

flip + crop (padding 4) + cutout (8x8) on CPU batches of 512 CIFAR-sized images
(3x32x32, float in [0, 1]); one thread, so neither side gains from parallelism.
Prints augmented images per second of both and the speed-up ratio (last line).
Goal: >= 10x.

Time is the thread's CPU time (``time.thread_time``), best of ROUNDS runs: on a
shared, oversubscribed machine wall-clock time mostly measures how long the
process waited for a core, which would distort the ratio.

Run: PYTHONPATH=$PWD python bench/augment.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from netcoach.augment import build_augment
from netcoach.config import AugmentConfig

N, C, H, W = 512, 3, 32, 32
PAD, CUT = 4, 8
ROUNDS = 30  # best of ROUNDS: the least-disturbed run on a shared machine


def per_sample(x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    """The baseline: what a per-sample transform pipeline (torchvision-style) does."""
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


def best_times(fns: dict, x, y, rounds: int = ROUNDS) -> dict:
    """Best CPU time per call of each function; the functions take turns, round after
    round, so a busy spell on the machine hits both sides alike."""
    g = torch.Generator().manual_seed(0)
    best = {name: float("inf") for name in fns}
    for name, fn in fns.items():
        fn(x, y, g)  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.thread_time()
            fn(x, y, g)
            best[name] = min(best[name], time.thread_time() - start)
    return best


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(N, C, H, W, generator=g)
    y = torch.randint(0, 10, (N,), generator=g)
    cfg = AugmentConfig(transforms=["hflip", "crop", "cutout"], crop_padding=PAD, cutout_size=CUT)
    best = best_times({"loop": per_sample, "batched": build_augment(cfg)}, x, y)
    loop, ours = N / best["loop"], N / best["batched"]
    print(f"per-sample Python loop (flip+crop+cutout, {N}x{C}x{H}x{W}, CPU, 1 thread): {loop:,.0f} images/s")
    print(f"batched netcoach pipeline (same transforms, same batches):                 {ours:,.0f} images/s")
    print(f"speed-up batched / per-sample: {ours / loop:.1f}x")


if __name__ == "__main__":
    main()
