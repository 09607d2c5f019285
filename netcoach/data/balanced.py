"""The balanced epoch order (``data.sampler balanced``): every batch holds every class.

The course's advice for imbalanced data is to build mini-batches that contain every
class. The order keeps the epoch's length and the batch layout of the plain shuffle
(full batches of ``batch_size``, then the remainder), and lays each batch out as one
sample of every class plus a share of the rest in about the class proportions, so the
class distribution the model sees stays the training split's. A class with fewer samples
than there are batches repeats some of its samples (drawn at random) and the largest
classes give up as many slots in that epoch.

torch's samplers have no such order (``WeightedRandomSampler`` resamples to a chosen
distribution and guarantees nothing per batch), hence this function. Every random draw
comes from the loader's ``generator``, so the order is deterministic and a resumed run
redraws it from the generator state the loader saved.
"""

from __future__ import annotations

import torch


def balanced_order(labels: torch.Tensor, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Indices 0..N-1 (some repeated when a class is rarer than the number of batches) in
    batches of ``batch_size`` that each hold every class of ``labels`` (CPU, 1-D integers);
    a last batch smaller than the number of classes holds what its slots allow.

    Example:
        >>> y = torch.tensor([0] * 95 + [1] * 5)
        >>> order = balanced_order(y, 20, torch.Generator().manual_seed(0))
        >>> [int(y[order[i:i + 20]].sum()) for i in range(0, 100, 20)]
        [1, 1, 1, 1, 1]
    """
    n = len(labels)
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    classes, counts = torch.unique(labels, return_counts=True)
    k = len(classes)
    full = [s >= k for s in sizes]
    n_full = sum(full)
    slots = _class_slots(counts, n_full, n)
    free = _interleave(slots - n_full, generator)  # class positions of the slots past one per class
    layout, start = [], 0
    for size, has_all in zip(sizes, full):
        extra = size - k if has_all else size
        head = [torch.arange(k)] if has_all else []
        layout.append(torch.cat(head + [free[start:start + extra]]))
        start += extra
    slot_class = torch.cat(layout)
    order = torch.empty(n, dtype=torch.int64)
    for c in range(k):
        members = (labels == classes[c]).nonzero().flatten()
        picked = members[torch.randperm(len(members), generator=generator)]
        need = int(slots[c])
        if need > len(members):
            again = torch.randint(len(members), (need - len(members),), generator=generator)
            picked = torch.cat([picked, members[again]])
        order[(slot_class == c).nonzero().flatten()] = picked[:need]
    return order


def _class_slots(counts: torch.Tensor, n_full: int, n: int) -> torch.Tensor:
    """Slots per class in the epoch: its count, at least ``n_full`` (one per full batch),
    the excess taken from the classes above ``n_full`` in proportion to their surplus."""
    slots = torch.maximum(counts, torch.tensor(n_full))
    excess = int(slots.sum()) - n
    if excess > 0:
        room = (slots - n_full).double()
        cut = (room * excess / room.sum()).floor().long()
        rest = excess - int(cut.sum())
        if rest:  # the largest remainders give up one more slot each
            frac = room * excess / room.sum() - cut
            cut[frac.argsort(descending=True)[:rest]] += 1
        slots = slots - cut
    return slots


def _interleave(free: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A sequence of class positions holding ``free[c]`` copies of each class c spread
    evenly: the j-th copy of class c sits at (j + u) / free[c], u uniform in [0, 1)."""
    keys, owners = [], []
    for c, f in enumerate(free.tolist()):
        if f > 0:
            keys.append((torch.arange(f, dtype=torch.float64) + torch.rand(f, generator=generator,
                                                                           dtype=torch.float64)) / f)
            owners.append(torch.full((f,), c, dtype=torch.int64))
    if not keys:
        return torch.empty(0, dtype=torch.int64)
    return torch.cat(owners)[torch.cat(keys).argsort()]
