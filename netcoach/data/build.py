"""From config to device-resident data and loaders."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch

from netcoach.config import Config
from netcoach.data.base import DataBundle
from netcoach.data.loader import BatchTransform, DeviceLoader
from netcoach.data.normalize import channel_stats
from netcoach.data.sources import datasets, from_arrays, from_splits
from netcoach.data.stream import StreamLoader, is_streaming
from netcoach.utils.runtime import make_generator


def build_data(config: Config, device: torch.device, bundle: Optional[DataBundle] = None,
               stratify: bool = True) -> DataBundle:
    """Load the configured source (or take ``bundle``), compute train-only statistics,
    and move everything to ``device``. ``stratify`` (the task's) is how the source splits."""
    if bundle is None:
        bundle = datasets.get(config.data.name)(config.data, stratify=stratify)
    if bundle.mean is None and config.data.normalize:
        mean, std = channel_stats(bundle.train.x, bundle.scale)  # training split only
        bundle = replace(bundle, mean=mean, std=std)
    return bundle.to(device)


def user_bundle(data, config: Config, stratify: bool = True) -> Optional[DataBundle]:
    """The user's ``data=`` as a bundle: None (the configured source), a ``DataBundle``,
    an ``(x, y)`` pair (split by ``from_arrays``) or a dict of explicit ``train``/``val``/
    ``test`` pairs (``from_splits``); the inputs' layout and range are recognised there."""
    if data is None or isinstance(data, DataBundle):
        return data
    if isinstance(data, dict):
        return from_splits(data, config.data, stratify=stratify)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return from_arrays(data[0], data[1], config.data, stratify=stratify)
    raise TypeError(f"data must be a DataBundle, an (x, y) pair or a dict with train/val/test (x, y) "
                    f"pairs, got {type(data).__name__}")


def build_loaders(config: Config, bundle: DataBundle,
                  transform: Optional[BatchTransform] = None) -> dict[str, DeviceLoader]:
    """Train (shuffled, augmented), val and test loaders over a device-resident bundle."""
    seed = config.train.seed
    norm = dict(scale=bundle.scale, mean=bundle.mean, std=bundle.std)
    train_cls, extra = DeviceLoader, {}
    if is_streaming(bundle.train):  # data.streaming: decode training images in DataLoader workers
        train_cls, extra = StreamLoader, {"num_workers": config.data.num_workers}
    return {
        "train": train_cls(bundle.train, config.data.batch_size, shuffle=True,
                           generator=make_generator(seed, salt=1), transform=transform,
                           aug_generator=make_generator(seed, salt=2), **norm, **extra),
        "val": DeviceLoader(bundle.val, config.data.eval_batch_size, **norm),
        "test": DeviceLoader(bundle.test, config.data.eval_batch_size, **norm),
    }
