"""The standard benchmark sets in their official formats.

- ``mnist`` / ``fashion-mnist``: IDX files (plain or ``.gz``), train and t10k.
- ``cifar10`` / ``cifar100``: the "python version" (pickled batches), read from the
  extracted folder or straight from the ``.tar.gz``.

With ``data.path`` unset, the official files are downloaded into the cache folder
(``netcoach.data.download``).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from netcoach.config import DataConfig
from netcoach.data.base import DataBundle
from netcoach.data.download import CATALOG, ensure_downloaded, extract_atomic
from netcoach.data.errors import DataError
from netcoach.data.idx import find_file, read_pair
from netcoach.data.sources import check_labels, datasets, from_train_test

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def _root(name: str, cfg: DataConfig) -> Path:
    if cfg.path:
        root = Path(cfg.path).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"data.path {root} does not exist (data set {name})")
        return root
    return ensure_downloaded(name, cfg.cache_dir, cfg.download)


def _idx_set(name: str, cfg: DataConfig, classes: list[str], stratify: bool) -> DataBundle:
    root = _root(name, cfg)
    if root.is_file():
        raise DataError(f"data.path {root}: {name} needs the folder holding the four IDX files")
    train = read_pair(find_file(root, "train-images-idx3-ubyte"), find_file(root, "train-labels-idx1-ubyte"), 10)
    test = read_pair(find_file(root, "t10k-images-idx3-ubyte"), find_file(root, "t10k-labels-idx1-ubyte"), 10)
    return from_train_test(name, train, test, cfg, classes, scale=255.0, info={"root": str(root)},
                           stratify=stratify)


@datasets.register("mnist")
def load_mnist(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """MNIST handwritten digits: 60,000 train / 10,000 test, 1x28x28."""
    return _idx_set("mnist", cfg, MNIST_CLASSES, stratify)


@datasets.register("fashion-mnist")
def load_fashion_mnist(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """Fashion-MNIST clothing images: 60,000 train / 10,000 test, 1x28x28."""
    return _idx_set("fashion-mnist", cfg, FASHION_CLASSES, stratify)


# ----------------------------------------------------------------------------- CIFAR


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle only plain containers and numpy arrays: a CIFAR batch needs nothing
    else, and refusing every other global keeps a malicious pickle from running code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data batch")


def _unpickle(data: bytes, where: str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # pickle raises many types on garbage; all mean "not a batch"
        raise DataError(f"{where}: not a CIFAR python-version batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: not a CIFAR python-version batch (holds a {type(obj).__name__})")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


class _Members:
    """Read files by base name from a folder tree or a tar archive."""

    def __init__(self, root: Path):
        self.root, self.files = root, {}
        if root.is_file():
            try:
                with tarfile.open(root) as tar:
                    for m in tar.getmembers():
                        if m.isfile():
                            self.files[Path(m.name).name] = tar.extractfile(m).read()
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise DataError(f"{root}: unreadable archive ({exc})") from None
        else:
            for p in sorted(root.rglob("*")):
                if p.is_file() and p.name not in self.files:
                    self.files[p.name] = p
            archives = [p for n, p in self.files.items() if n.endswith((".tar.gz", ".tgz", ".tar"))]
            if not {"batches.meta", "meta"} & set(self.files) and len(archives) == 1:
                self.__init__(archives[0])  # a folder holding just the official archive

    def read(self, name: str) -> tuple[dict, str]:
        if name not in self.files:
            raise FileNotFoundError(f"{self.root}: no CIFAR batch file '{name}' found")
        item = self.files[name]
        where = f"{self.root}:{name}" if self.root.is_file() else str(item)
        data = item if isinstance(item, bytes) else item.read_bytes()
        return _unpickle(data, where), where


def _batch_arrays(batch: dict, where: str, label_key: str, num_classes: int):
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{where}: CIFAR batch lacks 'data' or '{label_key}'")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key])
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{where}: 'data' has shape {data.shape}, expected (N, 3072) = 3x32x32 pixels")
    if len(data) != len(labels):
        raise DataError(f"{where}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), check_labels(labels, num_classes, where)


def _names(meta: dict, key: str) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]


def _cifar_root(name: str, cfg: DataConfig) -> Path:
    root = _root(name, cfg)
    if cfg.path is None:  # downloaded: extract once (atomically) and read the folder afterwards
        archive = root / CATALOG[name][0].filename
        root = extract_atomic(archive, root / "extracted")
    return root


@datasets.register("cifar10")
def load_cifar10(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """CIFAR-10 python version: 50,000 train / 10,000 test, 3x32x32, 10 classes."""
    files = _Members(_cifar_root("cifar10", cfg))
    meta, _ = files.read("batches.meta")
    classes = _names(meta, "label_names")
    parts = [_batch_arrays(*files.read(f"data_batch_{i}"), "labels", len(classes)) for i in range(1, 6)]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = _batch_arrays(*files.read("test_batch"), "labels", len(classes))
    return from_train_test("cifar10", train, test, cfg, classes, scale=255.0, stratify=stratify)


@datasets.register("cifar100")
def load_cifar100(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """CIFAR-100 python version: 100 fine classes (or 20 coarse with ``data.labels = coarse``)."""
    files = _Members(_cifar_root("cifar100", cfg))
    meta, _ = files.read("meta")
    classes = _names(meta, f"{cfg.labels}_label_names")
    key = f"{cfg.labels}_labels"
    train = _batch_arrays(*files.read("train"), key, len(classes))
    test = _batch_arrays(*files.read("test"), key, len(classes))
    return from_train_test("cifar100", train, test, cfg, classes, scale=255.0, info={"labels": cfg.labels},
                           stratify=stratify)
