"""Batched augmentation vs the same transforms applied per sample in a Python loop.

flip + crop (padding 4) + cutout (8x8) on CPU batches of 512 CIFAR-sized images
(3x32x32, float in [0, 1]); one thread, so neither side gains from parallelism.
Two per-sample baselines: netcoach's own transforms called on one image at a time
(the same code, only the batching differs: the ratio printed last, goal >= 10x),
and a lean hand-written per-sample loop in plain torch (what a torchvision-style
per-sample pipeline does), whose ratio is printed too.

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
ROUNDS = 20  # best of ROUNDS: the least-disturbed run on a shared machine


def hand_loop(x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    """Lean baseline: per-sample flip, padded crop and cutout written directly in torch."""
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
    pipeline = build_augment(cfg)

    def same_loop(xb, yb, gen):
        outs = [pipeline(xb[i:i + 1], yb[i:i + 1], gen)[0] for i in range(len(xb))]
        return torch.cat(outs), yb

    best = best_times({"same": same_loop, "hand": hand_loop, "batched": pipeline}, x, y)
    same, hand, ours = (N / best[k] for k in ("same", "hand", "batched"))
    print(f"flip+crop+cutout on {N}x{C}x{H}x{W} float batches, CPU, 1 thread, best of {ROUNDS} (CPU time)")
    print(f"per-sample loop, netcoach transforms one image at a time: {same:10,.0f} images/s")
    print(f"per-sample loop, hand-written torch:                      {hand:10,.0f} images/s")
    print(f"batched netcoach pipeline:                                {ours:10,.0f} images/s")
    print(f"speed-up batched / hand-written per-sample loop: {ours / hand:.1f}x")
    print(f"speed-up batched / per-sample loop of the same transforms: {ours / same:.1f}x")


if __name__ == "__main__":
    main()
