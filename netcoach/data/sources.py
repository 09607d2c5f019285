"""Data sources, chosen by ``data.name``.

A source is a function ``(DataConfig, stratify=True) -> DataBundle``; ``stratify``
(the task's ``stratify``) says whether the splits it makes keep the label proportions.
Register new ones with ``@datasets.register("name")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from netcoach.config import DataConfig
from netcoach.data.base import DataBundle, Split
from netcoach.data.errors import DataError
from netcoach.data.splits import stratified_indices, three_way
from netcoach.registry import Registry

datasets: Registry = Registry("dataset")


LAYOUTS = ("auto", "NCHW", "NHWC")
IMAGE_CHANNELS = (1, 3, 4)  # what a channel axis of an image array looks like


@dataclass(frozen=True)
class ArrayInputs:
    """User inputs as the loader stores them: ``x`` NCHW for images, ``scale`` the stored
    value that means 1.0, ``layout`` the layout the arrays came in, ``notes`` what was done."""

    x: torch.Tensor
    scale: float
    layout: str
    notes: tuple[str, ...] = ()


def image_layout(shape: tuple[int, ...], layout: str = "auto") -> str:
    """``NCHW`` or ``NHWC`` for a 4-D image array: ``layout`` when it is given, else from
    which axis looks like a channel axis (``_channels_like``). When both do, it is an error
    that says what to pass; when neither does, NCHW (PyTorch's layout, e.g. 16-channel maps)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout != "auto":
        return layout
    first, last = _channels_like(shape[1], shape[2:]), _channels_like(shape[3], shape[1:3])
    if first and last:
        raise ValueError(f"image array of shape {tuple(shape)} could be NCHW or NHWC (both axes 1 and 3 "
                         f"look like channels); pass layout='NCHW' or layout='NHWC'")
    return "NHWC" if last and not first else "NCHW"


def _channels_like(channels: int, spatial: tuple[int, ...]) -> bool:
    """An axis reads as channels when it has 1, 3 or 4 entries and is no longer than the
    image's sides (a (N, 1, 4, 4) array is 4x4 gray, not 1x4 RGBA)."""
    return channels in IMAGE_CHANNELS and channels <= min(spatial)


def image_scale(x: np.ndarray, scale: Optional[float]) -> tuple[np.ndarray, float]:
    """(stored array, scale) for image values: uint8 0..255 (scale 255), integers within
    0..255 (stored as uint8), floats in [0, 1] (scale 1), or an explicit ``scale``;
    anything else is an error saying what was found and what to pass."""
    if scale is not None:
        return (x if x.dtype == np.uint8 else x.astype(np.float32)), float(scale)
    if x.dtype == np.uint8:
        return x, 255.0
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if np.issubdtype(x.dtype, np.integer):
        if lo < 0 or hi > 255:
            raise ValueError(f"integer image values span {lo:g}..{hi:g}, outside 0..255; pass uint8 "
                             f"0..255, float in [0, 1], or scale= (the value that means 1.0)")
        return x.astype(np.uint8), 255.0
    if np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_:
        if lo < 0 or hi > 1:
            raise ValueError(f"float image values span [{lo:g}, {hi:g}], not [0, 1]; pass uint8 0..255, "
                             f"float in [0, 1] (e.g. x / 255), or scale= (the value that means 1.0)")
        return x.astype(np.float32), 1.0
    raise ValueError(f"image arrays must hold numbers, got dtype {x.dtype}")


def array_inputs(x, scale: Optional[float] = None, layout: str = "auto") -> ArrayInputs:
    """Recognise user inputs: 4-D arrays are images (layout and value range recognised,
    NHWC transposed to NCHW with a note); other shapes are features (N, D) or signals
    (N, C, L), stored as float32 unless uint8 (scale 1 unless given)."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim < 2:
        raise ValueError(f"inputs must have a sample axis and features, got shape {arr.shape}; "
                         "pass (N, D) features, (N, C, L) signals or (N, C, H, W) images")
    notes: list[str] = []
    if arr.ndim == 4:
        found = image_layout(arr.shape, layout)
        if found == "NHWC":
            arr = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
            notes.append(f"image arrays read as NHWC {tuple(x.shape)} and transposed to NCHW "
                         f"{arr.shape}")
        arr, found_scale = image_scale(arr, scale)
        return ArrayInputs(torch.from_numpy(arr), found_scale, found, tuple(notes))
    if layout not in ("auto", "NCHW"):
        raise ValueError(f"layout {layout!r} applies to 4-D image arrays; these inputs have shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
    return ArrayInputs(torch.from_numpy(np.ascontiguousarray(arr)), 1.0 if scale is None else float(scale),
                       "NCHW")


def targets_of(y, n: int, stratify: bool) -> np.ndarray:
    """Labels as numpy: class indices (int64, >= 0) when ``stratify``, else float32 targets."""
    y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if n != len(y_np):
        raise ValueError(f"{n} inputs but {len(y_np)} labels")
    classes = y_np.ndim == 1 and np.issubdtype(y_np.dtype, np.integer)
    if stratify and not classes:
        raise ValueError(f"labels of shape {y_np.shape} and dtype {y_np.dtype} are not class indices, "
                         "which a stratified split (task.name classification) needs; choose the "
                         "task.name that fits these targets")
    if classes and len(y_np) and y_np.min() < 0:
        raise ValueError(f"labels must be >= 0, found {y_np.min()}")
    if classes:
        return y_np.astype(np.int64)
    return y_np if y_np.dtype == np.bool_ or np.issubdtype(y_np.dtype, np.integer) else y_np.astype(np.float32)


def _num_classes(y: np.ndarray) -> int:
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return int(y.max()) + 1 if len(y) else 0
    return y.shape[1] if y.ndim == 2 else 1


def _bundle_of(name: str, parts: dict[str, tuple[torch.Tensor, np.ndarray]], inputs: ArrayInputs,
               class_names: Optional[list[str]]) -> DataBundle:
    ys = [y for _, y in parts.values()]
    classes = all(y.ndim == 1 and np.issubdtype(y.dtype, np.integer) for y in ys)
    num_classes = max(_num_classes(y) for y in ys)
    if class_names is not None and len(class_names) < num_classes:
        raise ValueError(f"labels go up to {num_classes - 1} but only {len(class_names)} class names given")
    names = list(class_names or ([str(i) for i in range(num_classes)] if classes else []))
    splits = {k: Split(x, torch.as_tensor(y, dtype=torch.int64 if classes else torch.float32))
              for k, (x, y) in parts.items()}
    info = {"input_layout": inputs.layout, "notes": list(inputs.notes)}
    return DataBundle(name=name, num_classes=num_classes, class_names=names, scale=inputs.scale,
                      info=info, **splits)


def from_arrays(x, y, cfg: DataConfig, name: str = "arrays", scale: Optional[float] = None,
                class_names: list[str] | None = None, stratify: bool = True,
                layout: str = "auto") -> DataBundle:
    """Split in-memory arrays (numpy or torch) into a train/val/test bundle, stratified
    by class when ``stratify`` (the task's ``stratify``).

    4-D inputs are images: NCHW or NHWC (recognised from which axis has 1, 3 or 4
    entries, or given as ``layout``; NHWC is transposed, with a note in
    ``bundle.info["notes"]``), uint8 0..255 or float in [0, 1] (or ``scale``, the
    stored value that means 1.0); anything ambiguous is an error that says what to
    pass. Other inputs are features (N, D) or signals (N, C, L).

    What the labels mean is checked by the task (``task.validate_labels``) when the
    trainer is built; here only what the split itself needs: one label per input,
    and class indices (1-D integers >= 0) for a stratified split.

    Example:
        >>> import numpy as np
        >>> b = from_arrays(np.random.rand(100, 4), np.arange(100) % 2, DataConfig())
        >>> (len(b.train), len(b.val), len(b.test))
        (60, 20, 20)
    """
    inputs = array_inputs(x, scale, layout)
    y_np = targets_of(y, len(inputs.x), stratify)
    tr, va, te = three_way(y_np, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify)
    part = lambda idx: (inputs.x[torch.as_tensor(idx)], y_np[idx])  # noqa: E731
    return _bundle_of(name, {"train": part(tr), "val": part(va), "test": part(te)}, inputs, class_names)


SPLIT_KEYS = ("train", "val", "test")


def from_splits(splits: dict, cfg: DataConfig, name: str = "arrays", scale: Optional[float] = None,
                class_names: list[str] | None = None, stratify: bool = True,
                layout: str = "auto") -> DataBundle:
    """A bundle from explicit ``{"train": (x, y), "val": (x, y), "test": (x, y)}`` pairs;
    a missing ``val`` (``test``) is carved from the training pairs: ``data.val_fraction``
    (``test_fraction``) of them, or both as ``from_arrays`` splits when both are missing. Every split is recognised like ``from_arrays`` and
    must come in the same layout and value range as the training split."""
    unknown = [k for k in splits if k not in SPLIT_KEYS]
    if unknown or "train" not in splits:
        raise ValueError(f"data dict keys must be train (required), val, test; got {', '.join(map(str, splits))}")
    pairs = {}
    for key in SPLIT_KEYS:
        if key in splits:
            if not (isinstance(splits[key], (tuple, list)) and len(splits[key]) == 2):
                raise ValueError(f"data[{key!r}] must be an (x, y) pair")
            pairs[key] = splits[key]
    inputs = array_inputs(pairs["train"][0], scale, layout)
    parts = {}
    for key, (x, y) in pairs.items():
        found = inputs if key == "train" else array_inputs(x, scale, layout)
        if key != "train" and (found.scale != inputs.scale or found.layout != inputs.layout
                               or found.x.shape[1:] != inputs.x.shape[1:]):
            raise ValueError(f"data[{key!r}] inputs are {found.layout} {tuple(found.x.shape[1:])} with "
                             f"scale {found.scale:g}, but the training inputs are {inputs.layout} "
                             f"{tuple(inputs.x.shape[1:])} with scale {inputs.scale:g}; pass every split "
                             "in the same layout and value range")
        parts[key] = (found.x, targets_of(y, len(found.x), stratify))
    parts = _carve(parts, cfg, stratify)
    return _bundle_of(name, parts, inputs, class_names)


def _carve(parts: dict, cfg: DataConfig, stratify: bool) -> dict:
    """Fill in a missing val/test split from the training pairs."""
    x, y = parts["train"]
    missing = [k for k in ("val", "test") if k not in parts]
    if not missing:
        return parts
    if len(missing) == 2:
        tr, va, te = three_way(y, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify)
        held = {"val": va, "test": te}
    else:
        fraction = cfg.val_fraction if missing[0] == "val" else cfg.test_fraction
        tr, out = stratified_indices(y, fraction, cfg.split_seed, stratify)
        held = {missing[0]: out}
    take = lambda idx: (x[torch.as_tensor(idx)], y[idx])  # noqa: E731
    return {**parts, "train": take(tr), **{k: take(v) for k, v in held.items()}}


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
