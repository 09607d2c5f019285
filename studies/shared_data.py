"""Arrays from ../shared/datasets for study scripts (not part of the package).

Returns numpy arrays ready for ``netcoach.from_arrays`` or a ``DataBundle``.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _idx(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def mnist(root: Path = SHARED / "mnist"):
    """(x_train (60000,1,28,28) uint8, y_train, x_test (10000,1,28,28), y_test)."""
    xtr = _idx(root / "train-images-idx3-ubyte.gz")[:, None]
    ytr = _idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = _idx(root / "t10k-images-idx3-ubyte.gz")[:, None]
    yte = _idx(root / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return xtr, ytr, xte, yte


def cifar10(per_class: int = 5000, root: Path = SHARED / "cifar10"):
    """(x (N,3,32,32) uint8, y) with the first ``per_class`` images of each class (sorted names)."""
    from PIL import Image

    wanted: dict[str, list[str]] = {c: [] for c in CIFAR_CLASSES}
    xs, ys = [], []
    with tarfile.open(root / "cifar10-train-jpeg.tar.gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")]
        for m in members:
            cls = Path(m.name).parent.name
            wanted[cls].append(m.name)
        keep = {n for c in CIFAR_CLASSES for n in sorted(wanted[c])[:per_class]}
        for m in members:
            if m.name in keep:
                img = Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")
                xs.append(np.asarray(img).transpose(2, 0, 1))
                ys.append(CIFAR_CLASSES.index(Path(m.name).parent.name))
    return np.stack(xs), np.asarray(ys, dtype=np.int64)
