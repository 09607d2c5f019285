"""Data checks: normalization statistics from train only, labels, input range, leakage.

Duplicate detection hashes the raw bytes of every sample (exact duplicates only).
Python's set of ``bytes`` is used because it is O(N) and needs no extra library;
it handles CIFAR-10's 50k images in well under a second.
"""

from __future__ import annotations

import math

import torch

from netcoach.data.base import DataBundle
from netcoach.data.normalize import channel_stats
from netcoach.diagnose.checks import result
from netcoach.tasks import validate_bundle


def _close(a, b, tol: float = 1e-4) -> bool:
    return a is not None and b is not None and all(abs(u - v) <= tol for u, v in zip(a, b))


def check_stats(bundle: DataBundle) -> dict:
    """Were the normalization statistics computed on the training split only?"""
    if bundle.normalizer is not None:
        return result("data_stats", "pass", f"inputs go through data.normalize {bundle.normalizer.mode}, "
                      "fitted on the training split only")
    if bundle.mean is None:
        return result("data_stats", "warn", "inputs are not standardized (data.normalize = none); "
                      "the recipe centers and scales inputs with training-set statistics")
    x = bundle.train.x
    if x.dim() < 2:
        return result("data_stats", "pass", "1-D inputs: nothing to standardize")
    mean, std = channel_stats(x, bundle.scale)
    details = dict(mean=bundle.mean, std=bundle.std, train_mean=mean, train_std=std)
    if _close(mean, bundle.mean) and _close(std, bundle.std):
        return result("data_stats", "pass", "normalization statistics match the training split",
                      **details)
    every = torch.cat([bundle.train.x, bundle.val.x, bundle.test.x])
    all_mean, all_std = channel_stats(every, bundle.scale)
    if _close(all_mean, bundle.mean) and _close(all_std, bundle.std):
        return result("data_stats", "fail", "normalization statistics were computed on train+val+test "
                      "(test information leaks into training); use the training split only", **details)
    return result("data_stats", "warn", "normalization statistics differ from the training split's "
                  "(precomputed elsewhere?)", **details)


def check_labels(bundle: DataBundle, task) -> dict:
    """The task's label check (``task.validate_labels``) on every split; for tasks with
    classes also the class balance of the training split."""
    try:
        validate_bundle(task, bundle)
    except ValueError as exc:
        return result("data_labels", "fail", str(exc), task=task.name)
    if not task.has_classes:
        return result("data_labels", "pass", f"labels fit task {task.name}", task=task.name)
    k = bundle.num_classes
    counts = torch.bincount(bundle.train.y.cpu(), minlength=k).tolist()
    details = dict(num_classes=k, train_counts=counts)
    missing = [i for i, c in enumerate(counts) if c == 0]
    if missing:
        return result("data_labels", "warn", f"classes {missing} have no training samples", **details)
    ratio = max(counts) / min(counts)
    details["imbalance"] = ratio
    if ratio > 10:
        return result("data_labels", "warn", f"class imbalance {ratio:.1f}x (largest/smallest class "
                      "in train): consider loss.class_weights auto, data.sampler balanced and "
                      "model.bias_init prior", **details)
    return result("data_labels", "pass", f"labels in [0, {k - 1}], train classes {min(counts)}.."
                  f"{max(counts)} samples (imbalance {ratio:.2f}x)", **details)


def check_inputs(batch: torch.Tensor, normalized: bool) -> dict:
    """Range of the inputs the model actually sees (after scaling and normalization)."""
    lo, hi = float(batch.min()), float(batch.max())
    mean, std = float(batch.mean()), float(batch.std())
    details = dict(min=lo, max=hi, mean=mean, std=std)
    if not all(math.isfinite(v) for v in (lo, hi, mean, std)):
        return result("data_inputs", "fail", "inputs contain NaN or inf", **details)
    text = f"model inputs in [{lo:.3g}, {hi:.3g}], mean {mean:.3f}, std {std:.3f}"
    if max(abs(lo), abs(hi)) > 100:
        return result("data_inputs", "warn", text + ": very large values; scale the inputs", **details)
    if normalized and (abs(mean) > 0.5 or not 0.3 < std < 3):
        return result("data_inputs", "warn", text + ": not standardized although normalization is on",
                      **details)
    return result("data_inputs", "pass", text, **details)


def _row_bytes(x: torch.Tensor) -> list[bytes]:
    arr = x.detach().cpu().contiguous().numpy().reshape(len(x), -1)
    return [row.tobytes() for row in arr]


def check_leakage(bundle: DataBundle) -> dict:
    """Exact duplicates shared between train and val/test (and val/test), with counts."""
    train = _row_bytes(bundle.train.x)
    train_set = set(train)
    val, test = _row_bytes(bundle.val.x), _row_bytes(bundle.test.x)
    val_set = set(val)  # built once, not per test row
    counts = {
        "val_in_train": sum(r in train_set for r in val),
        "test_in_train": sum(r in train_set for r in test),
        "test_in_val": sum(r in val_set for r in test),
        "duplicates_within_train": len(train) - len(train_set),
    }
    sizes = {"train": len(train), "val": len(val), "test": len(test)}
    shared = counts["val_in_train"] + counts["test_in_train"] + counts["test_in_val"]
    if shared:
        return result("data_leakage", "warn", f"{counts['val_in_train']} of {len(val)} val and "
                      f"{counts['test_in_train']} of {len(test)} test samples also appear in train "
                      f"({counts['test_in_val']} test in val): evaluation is optimistic; deduplicate "
                      "before splitting", **counts, sizes=sizes)
    return result("data_leakage", "pass", f"no exact duplicates shared between train/val/test "
                  f"({counts['duplicates_within_train']} within train)", **counts, sizes=sizes)
