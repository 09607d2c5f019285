"""Arrays from a NumPy ``.npz`` file (``data.name npz``, ``data.path FILE``).

The file holds ``x`` and ``y`` and optionally the pairs ``x_val``/``y_val`` and
``x_test``/``y_test``; a split that is not in the file is carved from ``x``/``y``
(``data.val_fraction``, ``data.test_fraction``). Inputs are recognised as in
``from_arrays``: images (N, C, H, W) or NHWC, uint8 or float in [0, 1]; signals
(N, C, L); features (N, D). The file is read with ``allow_pickle=False``, so an
object array (which would need pickle to load) is refused, never unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from netcoach.config import ConfigError, DataConfig
from netcoach.data.base import DataBundle
from netcoach.data.errors import DataError
from netcoach.data.sources import datasets, from_splits

PAIRS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the file, loaded without pickle; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data.path: {path} not found (the npz source needs a .npz file)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:  # object arrays: loading them would run pickle
        raise DataError(f"{path}: {exc}; store numeric arrays (e.g. x.astype(np.float32))") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def split_pairs(arrays: dict[str, np.ndarray], where: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (x, y), "val": ..., "test": ...} for the pairs present; a half pair is an error."""
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"{where}: needs arrays 'x' and 'y' (found: {', '.join(arrays) or 'none'})")
    pairs = {}
    for split, (xk, yk) in PAIRS.items():
        if (xk in arrays) != (yk in arrays):
            have, lack = (xk, yk) if xk in arrays else (yk, xk)
            raise DataError(f"{where}: has {have!r} but not {lack!r}; store both or neither")
        if xk in arrays:
            pairs[split] = (arrays[xk], arrays[yk])
    return pairs


@datasets.register("npz")
def load_npz(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """``data.path``'s arrays as train/val/test (missing splits carved from ``x``/``y``)."""
    if not cfg.path:
        raise ConfigError("data.path: the npz source needs the .npz file (--data.path FILE)")
    where = str(cfg.path)
    pairs = split_pairs(read_npz(cfg.path), where)
    try:
        return from_splits(pairs, cfg, name=Path(cfg.path).stem, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None
