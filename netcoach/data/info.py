"""What ``netcoach data info`` reports about a data set: counts per class and split,
image size, channels, training-split mean/std, and warnings (class imbalance,
images duplicated between train and val/test, skipped files)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from netcoach.data.base import DataBundle, Split
from netcoach.data.normalize import channel_stats

IMBALANCE_RATIO = 1.5  # largest / smallest class count that earns a warning


def _hashes(split: Split) -> list[str]:
    """A content hash per sample (exact duplicates only: same stored values)."""
    x = split.x.cpu().contiguous().numpy().reshape(len(split), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in x]


def duplicates(a: Split, b: Split) -> int:
    """How many samples of ``b`` also occur (same stored values) in ``a``."""
    seen = set(_hashes(a))
    return sum(h in seen for h in _hashes(b))


def duplicate_counts(bundle: DataBundle) -> dict | None:
    """Exact duplicates: val/test samples also in train, test in val, and repeated samples
    within train (None when the inputs are not held as one tensor, e.g. streamed)."""
    if not isinstance(bundle.train.x, torch.Tensor):
        return None
    train = _hashes(bundle.train)
    return {"val_in_train": duplicates(bundle.train, bundle.val),
            "test_in_train": duplicates(bundle.train, bundle.test),
            "test_in_val": duplicates(bundle.val, bundle.test),
            "within_train": len(train) - len(set(train))}


def summarize(bundle: DataBundle) -> dict:
    """A JSON-ready description of ``bundle`` with a list of warnings."""
    k = bundle.num_classes
    counts = {name: torch.bincount(split.y.cpu(), minlength=k).tolist()
              for name, split in (("train", bundle.train), ("val", bundle.val), ("test", bundle.test))}
    mean, std = bundle.mean, bundle.std
    if mean is None and hasattr(bundle.train.x, "dim") and isinstance(bundle.train.x, torch.Tensor):
        mean, std = channel_stats(bundle.train.x, bundle.scale)
    shape = list(bundle.input_shape)
    summary = {"name": bundle.name, "classes": bundle.class_names, "counts": counts,
               "sizes": {s: sum(c) for s, c in counts.items()}, "input_shape": shape,
               "channels": shape[0] if len(shape) == 3 else None,
               "image_size": shape[1:] if len(shape) == 3 else None,
               "dtype": str(bundle.train.x.dtype).replace("torch.", ""), "scale": bundle.scale,
               "mean": mean, "std": std, "duplicates": duplicate_counts(bundle), "warnings": []}
    summary["warnings"] = warnings(bundle, counts)
    return summary


def warnings(bundle: DataBundle, counts: dict) -> list[str]:
    out = []
    train = np.asarray(counts["train"])
    if len(train) and train.min() == 0:
        empty = [bundle.class_names[i] for i in np.flatnonzero(train == 0)]
        out.append(f"classes with no training samples: {', '.join(empty)}")
    elif len(train) and train.max() / train.min() > IMBALANCE_RATIO:
        lo, hi = int(train.argmin()), int(train.argmax())
        out.append(f"class imbalance: '{bundle.class_names[hi]}' has {train[hi]} training samples, "
                   f"'{bundle.class_names[lo]}' {train[lo]} ({train[hi] / train[lo]:.1f}x); consider "
                   f"class weights or resampling, and report per-class metrics")
    if isinstance(bundle.train.x, torch.Tensor):
        for other in ("val", "test"):
            n = duplicates(bundle.train, getattr(bundle, other))
            if n:
                out.append(f"{n} {other} images also occur in train (identical content); "
                           f"{other} results will be optimistic")
    skipped = bundle.info.get("skipped") or []
    if skipped:
        out.append(f"{len(skipped)} unreadable files skipped (data.skip_bad), e.g. {skipped[0]}")
    if bundle.info.get("resized"):
        out.append(f"{bundle.info['resized']} images had a different size and were resized")
    return out
