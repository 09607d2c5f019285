"""From config to device-resident data and loaders."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch

from netcoach.config import Config, ConfigError
from netcoach.data.base import DataBundle
from netcoach.data.loader import BatchTransform, DeviceLoader
from netcoach.data.normalize import channel_stats
from netcoach.data.preprocess import FITTED, fit_normalizer
from netcoach.data.sources import datasets, from_arrays, from_splits
from netcoach.data.stream import StreamLoader, is_streaming
from netcoach.utils.runtime import make_generator

AUG_RANK_SALT = 7919  # rank r's augmentation generator: salt 2 + r * this (rank 0: a one-process run's)


def build_data(config: Config, device: torch.device, bundle: Optional[DataBundle] = None,
               stratify: bool = True) -> DataBundle:
    """Load the configured source (or take ``bundle``), compute train-only statistics,
    and move everything to ``device``. ``stratify`` (the task's) is how the source splits."""
    if bundle is None:
        bundle = datasets.get(config.data.name)(config.data, stratify=stratify)
    mode = config.data.normalize
    if bundle.mean is None and mode == "per_channel":
        mean, std = channel_stats(bundle.train.x, bundle.scale)  # training split only
        bundle = replace(bundle, mean=mean, std=std)
    if mode in FITTED and bundle.normalizer is None:
        if bundle.mean is not None:  # e.g. a CSV source standardizes its columns itself
            raise ConfigError(f"data.normalize {mode}: the {bundle.name} bundle is already standardized "
                              f"(it has a per-channel mean/std); pass it without them")
        bundle = replace(bundle, normalizer=fit_normalizer(config.data, bundle.train.x, bundle.scale))
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


def build_loaders(config: Config, bundle: DataBundle, transform: Optional[BatchTransform] = None,
                  rank: int = 0, world_size: int = 1) -> dict[str, DeviceLoader]:
    """Train (shuffled, augmented), val and test loaders over a device-resident bundle.

    With several processes the train and val loaders give this ``rank`` its share of
    each (global) batch, and augmentation draws from a generator of its own per rank;
    the test loader stays whole, because the final evaluation keeps every prediction.
    """
    seed = config.train.seed
    if config.data.drop_last and len(bundle.train) < config.data.batch_size:
        raise ConfigError(f"data.drop_last: the training split holds {len(bundle.train)} samples, fewer than "
                          f"data.batch_size {config.data.batch_size}, so every batch would be left out; "
                          f"lower data.batch_size or set data.drop_last false")
    norm = dict(scale=bundle.scale, mean=bundle.mean, std=bundle.std, normalizer=bundle.normalizer)
    share = dict(rank=rank, world_size=world_size)
    train_cls, extra = DeviceLoader, {"sampler": config.data.sampler, "drop_last": config.data.drop_last, **share}
    if is_streaming(bundle.train):  # data.streaming: decode training images in DataLoader workers
        if config.data.sampler != "shuffle":
            raise ValueError(f"data.sampler {config.data.sampler}: not available with data.streaming; "
                             "use data.sampler shuffle")
        if world_size > 1:
            raise ValueError("data.streaming: streaming from DataLoader workers runs in one process only; "
                             "with dist.nproc > 1 hold the data in memory (data.streaming false)")
        train_cls, extra = StreamLoader, {"num_workers": config.data.num_workers,
                                          "drop_last": config.data.drop_last}
    return {
        "train": train_cls(bundle.train, config.data.batch_size, shuffle=True,
                           generator=make_generator(seed, salt=1), transform=transform,
                           aug_generator=make_generator(seed, salt=2 + AUG_RANK_SALT * rank),
                           key_seed=make_generator(seed, salt=3).initial_seed(), **norm, **extra),
        "val": DeviceLoader(bundle.val, config.data.eval_batch_size, **norm, **share),
        "test": DeviceLoader(bundle.test, config.data.eval_batch_size, **norm),
    }
