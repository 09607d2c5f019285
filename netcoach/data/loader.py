"""A data loader for datasets held as one tensor on the training device.

Written here rather than using torch's DataLoader because for in-memory data the
per-sample ``__getitem__`` + collate path of DataLoader dominates small-model
training time; indexing a device tensor with a permutation slice is one gather
per batch (bench/data_loading.py measures it). Inputs stay in their stored dtype
(uint8 for images) and are converted, augmented and normalized per batch on the
device. Shuffling uses an explicit generator, so a run is reproducible and can
resume mid-epoch exactly.

With several processes (``world_size`` > 1) every rank draws the same permutation
from the same shuffle generator and takes its share of each global batch (torch's
``tensor_split`` sizes: they differ by at most one sample). Global batch ``j`` is
therefore exactly the batch ``j`` of a one-process run, no sample is seen twice in
an epoch, and an uneven tail is split without padding. Every rank makes the same
number of steps, as DistributedDataParallel needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch

from netcoach.data.balanced import balanced_order
from netcoach.data.base import Split


@dataclass(frozen=True)
class SampleKeys:
    """Which samples a training batch holds and when: what the loader hands a transform's
    ``from_stored`` for draws keyed on the sample (the alternating flip).

    Attributes:
        index: (N,) int64 positions of the batch's samples in the training split.
        epoch: the epoch of the batch, counted from 0 by the loader (saved with its state,
            so a resumed run continues with the same count).
        size: samples in the training split (the length of a per-sample table).
        seed: the run's seed for per-sample tables (fixed for the run, the same on every rank).
    """

    index: torch.Tensor
    epoch: int
    size: int
    seed: int


# (x in [0, 1] float, y, generator) -> (x, y); y may become soft targets (N, K). A transform
# that also has ``from_stored(x, y, generator, prepare, keys)`` is given the stored batch and
# which samples of which epoch it holds (``SampleKeys``; see ``augment``).
BatchTransform = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


class DeviceLoader:
    """Iterate over (inputs, targets) batches of a device-resident split.

    Args:
        split: the data; its tensors decide the device.
        batch_size: samples per batch (the last batch may be smaller unless ``drop_last``).
        scale: stored value that means 1.0.
        mean, std: per-channel normalization (None: no normalization).
        normalizer: the fitted ``data.normalize`` module (mean image, PCA, ZCA) applied
            to the [0, 1]-unit batch after augmentation, instead of ``mean``/``std``.
        shuffle: draw a new permutation every epoch from ``generator``.
        generator: CPU generator for the permutations (required when shuffling).
        transform: optional batched augmentation, given ``aug_generator``.
        sampler: ``shuffle`` (a permutation per epoch) or ``balanced`` (every batch holds
            every class, ``data.balanced``; needs class-index labels and ``generator``).
        rank, world_size: this process's share of every batch (``batch_size`` is global).
            A shuffling (training) loader refuses a batch smaller than ``world_size``: a
            rank without samples could not take part in the gradient average.
        key_seed: the seed handed to the transform with each batch's sample positions and
            epoch (``SampleKeys``), for draws keyed on the sample (the alternating flip);
            the same on every rank.
    """

    def __init__(self, split: Split, batch_size: int, scale: float = 1.0,
                 mean: Optional[list[float]] = None, std: Optional[list[float]] = None,
                 shuffle: bool = False, generator: Optional[torch.Generator] = None,
                 transform: Optional[BatchTransform] = None,
                 aug_generator: Optional[torch.Generator] = None, drop_last: bool = False,
                 sampler: str = "shuffle", rank: int = 0, world_size: int = 1,
                 normalizer: Optional[torch.nn.Module] = None, key_seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size} processes")
        self.rank, self.world_size = rank, world_size
        if shuffle and generator is None:
            raise ValueError("a shuffling loader needs an explicit generator")
        self.labels = None  # CPU class labels the balanced order is drawn from
        if sampler == "balanced":
            self.labels = _class_labels(split.y)
        elif sampler != "shuffle":
            raise ValueError(f"data.sampler: unknown {sampler!r}; valid: shuffle, balanced")
        self.split, self.batch_size, self.shuffle, self.drop_last = split, batch_size, shuffle, drop_last
        self.generator, self.transform, self.aug_generator = generator, transform, aug_generator
        self.scale = float(scale)
        device = split.x.device
        shape = (1, -1) + (1,) * (split.x.dim() - 2)  # broadcast over channels
        self.mean = None if mean is None else torch.tensor(mean, device=device).view(shape)
        self.inv_std = None if std is None else (1.0 / torch.tensor(std, device=device)).view(shape)
        self.normalizer = normalizer
        self.key_seed = int(key_seed)
        self.epoch = 0  # the epoch being iterated, or the next one between epochs
        self.position = 0  # batches already yielded in the current epoch
        self._epoch_state: Optional[torch.Tensor] = None  # generator state before this epoch's permutation
        self._skip = 0
        self._last: Optional[tuple] = None  # (batch yielded, epoch order, first, end) of the last batch
        self.check_shards()

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def global_size(self, j: int) -> int:
        """Samples of global batch ``j`` over all ranks."""
        return min(self.batch_size, len(self.split) - j * self.batch_size)

    def shard(self, j: int) -> tuple[int, int]:
        """[first, end) positions in the epoch's order that this rank takes of batch ``j``."""
        start = j * self.batch_size
        if self.world_size == 1:  # the whole batch (this runs once per batch: keep it short)
            return start, min(start + self.batch_size, len(self.split.y))
        q, r = divmod(self.global_size(j), self.world_size)
        first = start + self.rank * q + min(self.rank, r)
        return first, first + q + (1 if self.rank < r else 0)

    def check_shards(self) -> None:
        """A training loader over several ranks needs every batch to give each rank a sample."""
        if not self.shuffle or self.world_size == 1 or len(self) == 0:
            return
        smallest = self.global_size(len(self) - 1)
        if smallest < self.world_size:
            n, bs = len(self.split), self.batch_size
            raise ValueError(f"data.batch_size {bs}: the last training batch holds {smallest} of the "
                             f"{n} samples, fewer than the {self.world_size} processes (each needs at "
                             f"least one); choose a batch size whose remainder n % batch_size is 0 or "
                             f">= {self.world_size}, e.g. {_fitting_batch(n, bs, self.world_size)}")

    def _order(self) -> Optional[torch.Tensor]:
        if not self.shuffle:
            return None
        self._epoch_state = self.generator.get_state()
        if self.labels is not None:
            return balanced_order(self.labels, self.batch_size, self.generator).to(self.split.x.device)
        return torch.randperm(len(self.split), generator=self.generator).to(self.split.x.device)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Stored values -> float in [0, 1] (the unit augmentations work in)."""
        return x.float().div_(self.scale) if self.scale != 1.0 else x.float()

    def augment(self, x: torch.Tensor, y: torch.Tensor,
                index: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Stored batch -> augmented floats in [0, 1]. A transform with ``from_stored``
        (netcoach's pipeline) is given the stored batch and this conversion, so its pixel
        moves copy uint8 values rather than floats (same result, see ``Pipeline``), and the
        batch's ``index`` (positions in the split) with the epoch as ``SampleKeys``."""
        if self.transform is None:
            return self.prepare(x), y
        from_stored = getattr(self.transform, "from_stored", None)
        if from_stored is not None:
            keys = None if index is None else SampleKeys(index, self.epoch, len(self.split), self.key_seed)
            return from_stored(x, y, self.aug_generator, self.prepare, keys)
        return self.transform(self.prepare(x), y, self.aug_generator)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalizer is not None:
            return self.normalizer(x)
        if self.mean is None:
            return x
        return (x - self.mean).mul_(self.inv_std)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.check_shards()
        order = self._order()
        start_batch, self._skip = self._skip, 0
        self.position = start_batch
        for j in range(start_batch, len(self)):
            first, end = self.shard(j)
            if first == end:  # an evaluation batch smaller than the world: nothing for this rank
                self.position += 1
                continue
            if order is None:
                x, y = self.split.x[first:end], self.split.y[first:end]
                idx = None if self.transform is None else torch.arange(first, end, device=x.device)
            else:
                idx = order[first:end]
                x, y = self.split.x[idx], self.split.y[idx]
            x, y = self.augment(x, y, idx)
            self.position += 1
            x = self.normalize(x)
            self._last = (x, order, first, end)
            yield x, y
        self.position = 0
        self.epoch += 1
        self._last = None

    def batch_indices(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """The positions in ``split`` of the samples of ``x`` when ``x`` is the very batch this
        loader yielded last (None for any other tensor): what a per-sample cache keys on.
        Identity, not equal values, so a batch built elsewhere never picks up another's entries."""
        if self._last is None or self._last[0] is not x:
            return None
        _, order, first, end = self._last
        return order[first:end] if order is not None else torch.arange(first, end, device=x.device)

    # ---------------------------------------------------------------- resume support

    def state_dict(self) -> dict:
        """What resuming needs: the generator state before the current epoch's
        permutation, the batches already yielded, the epoch count (per-sample augmentation
        draws depend on it) and the augmentation generator.

        A loader restored but not yet iterated gives back exactly what it was given,
        so capture -> restore -> capture is a fixed point (the LR finder relies on it)."""
        pending = self._skip > 0  # restored: the generator already sits at the epoch start
        state = {"position": self._skip if pending else self.position, "world_size": self.world_size,
                 "epoch": self.epoch}
        if self.shuffle:
            mid_epoch = self.position and not pending
            state["shuffle_state"] = self._epoch_state if mid_epoch else self.generator.get_state()
        if self.aug_generator is not None:
            state["aug_state"] = self.aug_generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore; the next iteration redraws the same permutation and skips done batches.

        The shares of a batch depend on the number of processes, so a state written by
        a run of another world size cannot continue exactly and is refused."""
        saved = int(state.get("world_size", 1))
        if saved != self.world_size:
            raise ValueError(f"the checkpoint was written by a run of {saved} process(es), this one has "
                             f"{self.world_size}: resume with --dist.nproc {saved} (the same total "
                             f"processes), or start a new run")
        if "shuffle_state" in state:
            self.generator.set_state(state["shuffle_state"])
        if "aug_state" in state and self.aug_generator is not None:
            self.aug_generator.set_state(state["aug_state"])
        self._skip = int(state.get("position", 0))
        self.epoch = int(state.get("epoch", 0))
        self.position = 0


def _class_labels(y: torch.Tensor) -> torch.Tensor:
    """``y`` on the CPU when it holds class indices (1-D integers), else a ValueError."""
    if y.dim() != 1 or y.is_floating_point():
        raise ValueError(f"data.sampler balanced: needs one class index per sample, got targets of shape "
                         f"{tuple(y.shape)} and dtype {y.dtype}; use data.sampler shuffle")
    return y.cpu()


def _fitting_batch(n: int, batch_size: int, world_size: int) -> int:
    """The batch size nearest above ``batch_size`` whose last batch gives every rank a sample."""
    b = batch_size + 1
    while 0 < n % b < world_size:
        b += 1
    return b
