"""The streaming path: training images stay on disk and are decoded in DataLoader workers.

For image folders too large to hold decoded in memory (``data.streaming = true``).
It uses torch's DataLoader because that is where parallel decoding lives (worker
processes); batches still arrive as uint8 and are converted, augmented and
normalized on the device exactly as in ``DeviceLoader``, and the epoch's order
is drawn from the same kind of explicit generator, so resuming mid-epoch works.
Validation and test splits are decoded into memory (they are the small part).

Limits: the training statistics (mean/std) cost one decoding pass in the main
process at start; ``data.skip_bad`` is not applied while streaming (a bad file
stops the epoch with an error naming it), so check a new folder with
``netcoach data info`` first.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from netcoach.config import DataConfig
from netcoach.data.base import DataBundle, Split
from netcoach.data.decode import decode_all, decode_one, folder_shape, image_size
from netcoach.data.errors import DataError
from netcoach.data.imagefiles import ImageList, file_reader, list_images, require_classes, split_error
from netcoach.data.loader import DeviceLoader
from netcoach.data.splits import three_way


class ImageFiles(Dataset):
    """Map-style dataset: index -> ((C, H, W) uint8 tensor, label), decoded on access."""

    def __init__(self, images: ImageList, indices: np.ndarray, channels: int, size: tuple[int, int]):
        self.images, self.indices, self.channels, self.size = images, indices, channels, size
        self.read = file_reader(images)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = int(self.indices[i])
        arr = decode_one(self.read(j), f"{self.images.source}/{self.images.names[j]}", self.channels)
        if arr.shape[:2] != tuple(self.size):
            from PIL import Image

            img = Image.fromarray(arr[:, :, 0] if self.channels == 1 else arr)
            arr = np.asarray(img.resize((self.size[1], self.size[0]), Image.BILINEAR))
            arr = arr.reshape(self.size[0], self.size[1], -1)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))), self.images.labels[j]


class LazyImages:
    """Stands in for a split's ``x`` tensor: shape, length, device, and slicing (decodes)."""

    def __init__(self, files: ImageFiles, device: torch.device = torch.device("cpu")):
        self.files, self.device = files, torch.device(device)
        self.shape = (len(files), files.channels, *files.size)
        self.dtype = torch.uint8

    def __len__(self) -> int:
        return len(self.files)

    def dim(self) -> int:
        return len(self.shape)

    def to(self, device) -> "LazyImages":
        return LazyImages(self.files, device)

    def __getitem__(self, index) -> torch.Tensor:
        idx = range(len(self))[index] if isinstance(index, slice) else torch.as_tensor(index).tolist()
        return torch.stack([self.files[i][0] for i in idx]).to(self.device)


def load_streaming_folder(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """Bundle whose training ``x`` is a ``LazyImages``; val/test decoded in memory."""
    if cfg.val_path or cfg.test_path:
        raise ValueError("data.streaming reads one folder (data.path) and splits it; "
                         "data.val_path / data.test_path are for the in-memory path")
    images = list_images(cfg.train_path or cfg.path)
    require_classes(images.classes, images.source)
    labels = np.asarray(images.labels)
    try:
        tr, va, te = three_way(labels, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify)
    except ValueError as exc:
        raise split_error(exc, labels, images.classes, images.source) from None
    # the in-memory path's decision (every image counts), read from the headers
    channels, size = folder_shape(images, file_reader(images), cfg.channels, image_size(cfg))

    def in_memory(idx: np.ndarray) -> Split:
        sub = ImageList(images.source, [images.names[i] for i in idx], [images.labels[i] for i in idx],
                        images.classes, [])
        dec = decode_all(sub, channels, size, skip_bad=False)
        return Split(torch.from_numpy(dec.x), torch.from_numpy(dec.y))

    train = Split(LazyImages(ImageFiles(images, tr, channels, size)),  # type: ignore[arg-type]
                  torch.as_tensor(labels[tr], dtype=torch.int64))
    return DataBundle(name="folder", train=train, val=in_memory(va), test=in_memory(te),
                      num_classes=len(images.classes), class_names=images.classes, scale=255.0,
                      info={"source": str(images.source), "streaming": True})


class _Order(torch.utils.data.Sampler):
    def __init__(self, order: list[int]):
        self.order = order

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class StreamLoader(DeviceLoader):
    """DeviceLoader's interface over a ``LazyImages`` split, decoding with ``num_workers``
    DataLoader workers; only how a batch of stored values is fetched differs."""

    def __init__(self, split: Split, batch_size: int, num_workers: int = 2, **kw):
        super().__init__(split, batch_size, **kw)
        if not isinstance(split.x, LazyImages):
            raise DataError("StreamLoader needs a streaming split (data.streaming = true)")
        self.num_workers = num_workers

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, bs = len(self.split), self.batch_size
        order = self._order()
        order = list(range(n)) if order is None else order.cpu().tolist()
        stop = n - n % bs if self.drop_last else n
        start_batch, self._skip = self._skip, 0
        self.position = start_batch
        loader = DataLoader(self.split.x.files, batch_size=bs, sampler=_Order(order[start_batch * bs:stop]),
                            num_workers=self.num_workers, persistent_workers=False,
                            pin_memory=self.split.x.device.type == "cuda")
        device = self.split.x.device
        for x, y in loader:
            first = self.position * bs
            index = torch.tensor(order[first:first + len(x)], device=device)
            x, y = self.augment(x.to(device, non_blocking=True), y.to(device, non_blocking=True), index)
            self.position += 1
            yield self.normalize(x), y
        self.position = 0
        self.epoch += 1


def is_streaming(split: Split) -> bool:
    return isinstance(split.x, LazyImages)

