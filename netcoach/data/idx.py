"""The IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed).

Layout: a 4-byte magic (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order. Written here
because it is 30 lines of numpy; torchvision is not a dependency.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from netcoach.data.errors import DataError

# type code -> numpy dtype (big-endian where it matters), the IDX format's whole table
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
VALID_TYPES = ", ".join(f"0x{code:02x} ({name})" for code, name in IDX_NAMES.items())


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` by name or by its gzip header).

    Args:
        path: the file.
        ndim: expected number of dimensions (3 for images, 1 for labels); checked when given.

    Raises:
        DataError: wrong magic number, unexpected dimensions, or truncated data.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc}); download the file again") from None
    if len(raw) >= 4 and raw[0] == 0 and raw[1] == 0 and raw[2] not in IDX_TYPES:
        raise DataError(f"{path}: unknown IDX type byte 0x{raw[2]:02x}; valid: {VALID_TYPES}")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        magic = int.from_bytes(raw[:4].ljust(4, b"\0"), "big")
        raise DataError(f"{path}: wrong IDX magic number {magic} (0x{magic:08x}); expected 2051 for "
                        f"images or 2049 for labels (is this an MNIST-format file?)")
    dims_n = raw[3]
    if ndim is not None and dims_n != ndim:
        kind = "images (3)" if ndim == 3 else "labels (1)"
        raise DataError(f"{path}: IDX file has {dims_n} dimensions, expected {kind}; "
                        f"are the image and label files swapped?")
    header = 4 + 4 * dims_n
    if len(raw) < header:
        raise DataError(f"{path}: IDX header cut short ({len(raw)} bytes, {dims_n} dimensions need "
                        f"{header}); the file is truncated")
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: header says {dims} values ({expected} bytes) but the file holds "
                        f"{len(raw) - header} bytes of data (truncated or corrupt)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _type_text(dtype) -> str:
    code = next(c for c, t in IDX_TYPES.items() if np.dtype(t) == dtype)
    return f"0x{code:02x} ({IDX_NAMES[code]})"


def find_file(root: Path, stem: str) -> Path:
    """``root/stem`` or ``root/stem.gz`` (also the ``stem.idx3-ubyte`` dotted variant)."""
    variants = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
    for name in variants:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root}: no {stem} (or {stem}.gz) found")


def read_pair(images: Path, labels: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64, checked against each other.

    Images of another IDX type are refused rather than cast: int8 or float pixels have
    no agreed mapping to 0..255, and a wrong guess trains to chance without an error."""
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if x.dtype != np.uint8:
        raise DataError(f"{images}: IDX type {_type_text(x.dtype)} images; netcoach reads MNIST-format "
                        f"images as uint8 (0x08) pixels 0..255: convert the file")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{labels}: IDX type {_type_text(y.dtype)} labels; labels must be integers "
                        f"(0x08 uint8, 0x09 int8, 0x0b int16 or 0x0c int32)")
    if len(x) != len(y):
        raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        bad = int(y.max()) if y.max() >= num_classes else int(y.min())
        raise DataError(f"{labels}: label {bad} out of range 0..{num_classes - 1}")
    return x[:, None].copy(), y  # a writable copy: torch refuses to own read-only buffers
