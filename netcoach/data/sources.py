"""Data sources, chosen by ``data.name``.

A source is a function ``(DataConfig, stratify=True) -> DataBundle``; ``stratify``
(the task's ``stratify``) says whether the splits it makes keep the label proportions.
Register new ones with ``@datasets.register("name")``.
"""

from __future__ import annotations

import numpy as np
import torch

from netcoach.config import DataConfig
from netcoach.data.base import DataBundle, Split
from netcoach.data.errors import DataError
from netcoach.data.splits import stratified_indices, three_way
from netcoach.registry import Registry

datasets: Registry = Registry("dataset")


def from_arrays(x, y, cfg: DataConfig, name: str = "arrays", scale: float = 1.0,
                class_names: list[str] | None = None, stratify: bool = True) -> DataBundle:
    """Split in-memory arrays (numpy or torch) into a train/val/test bundle, stratified
    by class when ``stratify`` (the task's ``stratify``).

    What the labels mean is checked by the task (``task.validate_labels``) when the
    trainer is built; here only what the split itself needs: one label per input,
    and class indices (1-D integers >= 0) for a stratified split.

    Example:
        >>> import numpy as np
        >>> b = from_arrays(np.random.rand(100, 4), np.arange(100) % 2, DataConfig())
        >>> (len(b.train), len(b.val), len(b.test))
        (60, 20, 20)
    """
    x = torch.as_tensor(np.asarray(x))
    y_np = np.asarray(y)
    if len(x) != len(y_np):
        raise ValueError(f"{len(x)} inputs but {len(y_np)} labels")
    classes = y_np.ndim == 1 and np.issubdtype(y_np.dtype, np.integer)
    if stratify and not classes:
        raise ValueError(f"labels of shape {y_np.shape} and dtype {y_np.dtype} are not class indices, "
                         "which a stratified split (task.name classification) needs; choose the "
                         "task.name that fits these targets")
    if classes and len(y_np) and y_np.min() < 0:
        raise ValueError(f"labels must be >= 0, found {y_np.min()}")
    if x.dtype not in (torch.uint8, torch.float32):
        x = x.float()
    num_classes = int(y_np.max()) + 1 if classes else (y_np.shape[1] if y_np.ndim == 2 else 1)
    if class_names is not None and len(class_names) < num_classes:
        raise ValueError(f"labels go up to {num_classes - 1} but only {len(class_names)} class names given")
    tr, va, te = three_way(y_np, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify)
    yt = torch.as_tensor(y_np, dtype=torch.int64 if classes else torch.float32)
    split = lambda idx: Split(x[torch.as_tensor(idx)], yt[torch.as_tensor(idx)])  # noqa: E731
    names = class_names or ([str(i) for i in range(num_classes)] if classes else [])
    return DataBundle(name=name, train=split(tr), val=split(va), test=split(te),
                      num_classes=num_classes, class_names=names, scale=scale)


@datasets.register("digits")
def load_digits(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, values 0..16)."""
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    x = raw.images.astype(np.uint8)[:, None]  # (N, 1, 8, 8); values 0..16 fit uint8 exactly
    return from_arrays(x, raw.target, cfg, name="digits", scale=16.0, stratify=stratify)


def check_labels(y: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """``y`` as int64, or a DataError naming ``where`` when a label is outside 0..num_classes-1."""
    y = np.asarray(y).astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise DataError(f"{where}: label {bad} out of range 0..{num_classes - 1}")
    return y


def from_train_test(name: str, train: tuple, test: tuple, cfg: DataConfig, class_names: list[str],
                    scale: float = 255.0, val: tuple | None = None, info: dict | None = None,
                    stratify: bool = True) -> DataBundle:
    """A bundle from a source's own train and test sets; without ``val``, a stratified
    ``val_fraction`` of the training set (seed ``split_seed``) becomes the validation split.

    The test set is kept as given and used for nothing but the final evaluation.
    """
    as_split = lambda x, y: Split(torch.as_tensor(np.asarray(x)), torch.as_tensor(y, dtype=torch.int64))  # noqa: E731
    x_tr, y_tr = train
    if val is None:
        keep, held = stratified_indices(np.asarray(y_tr), cfg.val_fraction, cfg.split_seed, stratify)
        val = (x_tr[held], y_tr[held])
        train = (x_tr[keep], y_tr[keep])
    return DataBundle(name=name, train=as_split(*train), val=as_split(*val), test=as_split(*test),
                      num_classes=len(class_names), class_names=list(class_names), scale=scale,
                      info=dict(info or {}))
