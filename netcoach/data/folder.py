"""The ``folder`` source: one sub-folder per class, from a folder or an archive.

``data.path`` (or ``data.train_path``) is split into train/val/test (stratified,
``split_seed``) unless ``data.val_path`` / ``data.test_path`` give those splits.
Decoded images go through the decode cache (``data.cache``), so only the first
load pays for decoding. With ``data.streaming`` the training images stay on disk
and are decoded by DataLoader workers (``netcoach.data.stream``).
"""

from __future__ import annotations

from pathlib import Path
import numpy as np

from netcoach.config import DataConfig
from netcoach.data.base import DataBundle
from netcoach.data.cache import DecodeCache, cache_key
from netcoach.data.decode import Decoded, decode_all, image_size
from netcoach.data.download import cache_root
from netcoach.data.errors import DataError
from netcoach.data.imagefiles import (archive_fingerprint, is_archive, list_images, require_classes,
                                      split_error)
from netcoach.data.sources import datasets, from_arrays, from_train_test
from netcoach.data.splits import stratified_indices
from netcoach.data.stream import load_streaming_folder


def load_images(path: str | Path, cfg: DataConfig) -> Decoded:
    """Decode the folder/archive at ``path`` as configured, through the decode cache."""
    path = Path(path).expanduser()
    settings = {"channels": cfg.channels, "size": image_size(cfg), "skip_bad": cfg.skip_bad}
    cache = DecodeCache(cache_root(cfg.cache_dir)) if cfg.cache else None
    # An archive is identified by its own stat, so a cache hit skips reading its listing.
    images = None if is_archive(path) else list_images(path)
    key = cache_key(archive_fingerprint(path) if images is None else images.fingerprint, settings)
    if cache is not None:
        hit = cache.load(key)
        if hit is not None:
            return hit
    images = images or list_images(path)
    decoded = decode_all(images, cfg.channels, image_size(cfg), cfg.skip_bad)
    if cache is not None:
        cache.store(key, decoded)
    return decoded


def _align(part: Decoded, classes: list[str], where: str) -> np.ndarray:
    """Relabel a val/test folder's classes into the training folder's class indices."""
    unknown = sorted(set(part.classes) - set(classes))
    if unknown:
        raise DataError(f"{where}: class folders {unknown} do not exist in the training folder "
                        f"(classes: {', '.join(classes)})")
    remap = np.asarray([classes.index(c) for c in part.classes], dtype=np.int64)
    return remap[part.y]


def _check_shape(part: Decoded, train: Decoded, where: str) -> None:
    if part.x.shape[1:] != train.x.shape[1:]:
        raise DataError(f"{where}: images are {tuple(part.x.shape[1:])} (C,H,W) but the training images "
                        f"are {tuple(train.x.shape[1:])}; set data.image_size / data.channels")


@datasets.register("folder")
def load_folder(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """Image folder(s) or archive(s) with one sub-folder per class."""
    train_path = cfg.train_path or cfg.path
    if not train_path:
        raise ValueError("data.name folder needs data.path (or data.train_path): a folder or "
                         ".tar/.tar.gz/.zip with one sub-folder per class")
    if cfg.streaming:
        return load_streaming_folder(cfg, stratify)
    train = load_images(train_path, cfg)
    require_classes(train.classes, train_path)
    try:
        return _split(train, train_path, cfg, stratify)
    except ValueError as exc:
        raise split_error(exc, train.y, train.classes, train_path) from None


def _split(train: Decoded, train_path, cfg: DataConfig, stratify: bool) -> DataBundle:
    info = {"source": str(train_path), "skipped": list(train.skipped), "resized": train.resized}
    extra = {}
    for split in ("val", "test"):
        path = getattr(cfg, f"{split}_path")
        if path:
            part = load_images(path, cfg)
            _check_shape(part, train, str(path))
            extra[split] = (part.x, _align(part, train.classes, str(path)))
            info["skipped"] += part.skipped
            info["resized"] += part.resized
    if not extra:
        bundle = from_arrays(train.x, train.y, cfg, name="folder", scale=255.0, class_names=train.classes,
                             stratify=stratify)
        bundle.num_classes = len(train.classes)
        bundle.info.update(info)
        return bundle
    if "test" not in extra:  # carve the test split out of the training folder
        keep, held = stratified_indices(train.y, cfg.test_fraction, cfg.split_seed, stratify)
        extra["test"] = (train.x[held], train.y[held])
        train = Decoded(train.x[keep], train.y[keep], train.classes)
    return from_train_test("folder", (train.x, train.y), extra["test"], cfg, train.classes,
                           scale=255.0, val=extra.get("val"), info=info, stratify=stratify)

