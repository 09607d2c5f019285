"""Gradient accumulation and multi-process shares: where a micro-batch sits in its group.

A group of ``grad_accum`` micro-batches makes one optimizer step. Each micro-batch's loss
is weighted by its share of the group's samples over all ranks, so the update equals the
one of a single big batch, also when the last group or a rank's share is smaller.
"""

from __future__ import annotations

from netcoach.data.loader import DeviceLoader


def accum_position(loader: DeviceLoader, b: int, n: int, k: int, world: int) -> tuple[bool, bool, float, float]:
    """(first micro-batch of its group, last one (take a step), loss weight, record weight)
    of batch ``b`` (``n`` samples on this rank), with ``k`` micro-batches per step and
    ``world`` processes.

    The loss weight is this micro-batch's ``n`` samples over the group's total, times the
    world size because DistributedDataParallel averages the ranks' gradients (uneven
    shares stay exact). The record weight gives this rank's own mean loss of the group,
    for the logs.
    """
    if k == 1 and world == 1:
        return True, True, 1.0, 1.0
    g0, g1 = b - b % k, min(b - b % k + k, len(loader))
    total = sum(batch_size(loader, j) for j in range(g0, g1))
    local = total if world == 1 else sum(share(loader, j) for j in range(g0, g1))
    return b == g0, b == g1 - 1, n * world / total, n / local


def batch_size(loader: DeviceLoader, j: int) -> int:
    """Samples of global batch ``j`` (the last one may be smaller)."""
    n, bs = len(loader.split), loader.batch_size
    return min(bs, n - j * bs)


def share(loader: DeviceLoader, j: int) -> int:
    """This rank's samples of global batch ``j``."""
    first, end = loader.shard(j)
    return end - first
