"""Decoding image files into one uint8 array, with clear errors for bad files.

Pillow decodes every format it knows. This module is the one decoder policy of
every image path (in memory, cached, streaming):

- channels: an image is gray when its mode is (1, L, LA, I, I;16*, or a palette of
  grays), else colour; a folder is RGB when any image is colour (``data.channels``
  0), and gray images in it are repeated to 3 channels. Alpha is dropped.
- 16-bit images (mode I;16*, or I with values in 0..65535) are scaled to uint8 by
  dropping the low byte (``value >> 8``), so 65535 becomes 255 and the run's
  ``scale`` stays 255 (Pillow's own ``convert("L")`` would clip them at 255).
  32-bit float images (mode F) and I images outside 0..65535 are refused: no rule
  maps them to 0..255 without guessing.
- size: ``data.image_size``, else the most common size; others are resized (bilinear).

``folder_shape`` gives the same decision from the image headers alone, so the
streaming path (which never decodes the whole folder) agrees with the in-memory one.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np

from netcoach.data.errors import DataError
from netcoach.data.imagefiles import ImageList, iter_bytes

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "P;L"}
WIDE_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}  # 16-bit (or 32-bit int) grayscale


def image_size(cfg) -> Optional[tuple[int, int]]:
    """``data.image_size`` of a ``DataConfig`` as (H, W), or None (keep the images' size)."""
    s = list(cfg.image_size)
    if not s:
        return None
    if len(s) > 2 or min(s) < 1:
        raise ValueError(f"data.image_size must be one or two positive numbers (H,W), got {s}")
    return (s[0], s[-1])


@dataclass
class Decoded:
    """The result of decoding a folder: ``x`` (N, C, H, W) uint8, ``y`` (N,) int64, and
    which entries were skipped (``skip_bad``) or resized."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    skipped: list[str] = field(default_factory=list)
    resized: int = 0


def bad_file_message(where: str, exc: Exception) -> str:
    return (f"{where}: cannot decode image ({type(exc).__name__}: {exc}); fix or remove the file, "
            f"or set data.skip_bad = true to skip unreadable files")


def image_channels(img: Image.Image) -> int:
    """1 for a grayscale image, 3 for a colour one (from the mode; needs no decoding)."""
    return 1 if img.mode in GRAY_MODES or (img.mode == "P" and _palette_is_gray(img)) else 3


def _open(data: bytes, where: str, load: bool) -> "Image.Image":
    from PIL import Image, UnidentifiedImageError  # imported where used: `import netcoach` stays cheap

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if load:
                img.load()  # decode now: a truncated file fails here, not later
            return img
    except UnidentifiedImageError:
        raise DataError(f"{where}: cannot decode image (not an image file Pillow can read: unknown "
                        f"format or not an image); fix or remove the file, or set data.skip_bad = "
                        f"true to skip unreadable files") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(bad_file_message(where, exc)) from None


def _to_uint8(img: Image.Image, want: int, where: str) -> np.ndarray:
    """The image as (H, W) or (H, W, 3) uint8 by the module's rules (16-bit: ``>> 8``)."""
    if img.mode == "F":
        raise DataError(f"{where}: a 32-bit float image (mode F); netcoach reads 8- and 16-bit "
                        f"images and will not guess how floats map to 0..255: save it as 8- or "
                        f"16-bit PNG")
    if img.mode in WIDE_MODES:
        wide = np.asarray(img).astype(np.int64)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise DataError(f"{where}: a 32-bit integer image with values {wide.min()}..{wide.max()} "
                            f"outside 0..65535; netcoach reads 8- and 16-bit images")
        gray = (wide >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2) if want == 3 else gray
    return np.asarray(img.convert("L" if want == 1 else "RGB"))


def decode_one(data: bytes, where: str, channels: int = 0) -> np.ndarray:
    """One image's bytes -> (H, W, C) uint8; ``channels`` 0 keeps gray as 1, else 1 or 3."""
    img = _open(data, where, load=True)
    arr = _to_uint8(img, channels or image_channels(img), where)
    return arr[:, :, None] if arr.ndim == 2 else arr


def folder_shape(images: ImageList, read, channels: int = 0,
                 size: Optional[tuple[int, int]] = None) -> tuple[int, tuple[int, int]]:
    """(channels, (H, W)) that ``decode_all`` gives ``images``, from the headers only.

    Args:
        read: index -> the entry's bytes (Pillow parses only the header of them).
    """
    found, sizes = [], Counter()
    for i, name in enumerate(images.names):
        img = _open(read(i), f"{images.source}/{name}", load=False)
        found.append(image_channels(img))
        sizes[(img.height, img.width)] += 1
    return channels or max(found), tuple(size) if size else sizes.most_common(1)[0][0]


def _palette_is_gray(img: Image.Image) -> bool:
    pal = np.asarray(img.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    return bool(len(pal)) and bool((pal[:, 0] == pal[:, 1]).all() and (pal[:, 1] == pal[:, 2]).all())


PARALLEL_MIN = 4096  # fewer images decode faster in this process than a pool starts
CHUNK = 1024        # images per task sent to a worker


def _where(images: ImageList, i: int) -> str:
    sep = "/" if images.source.is_dir() else ":"
    return f"{images.source}{sep}{images.names[i]}"


def _decode_chunk(chunk: list[tuple[int, bytes, str]], channels: int,
                  skip_bad: bool) -> list[tuple[int, Optional[np.ndarray], str]]:
    """Decode one chunk; an unreadable file is None when ``skip_bad``, else a DataError."""
    out = []
    for i, data, where in chunk:
        try:
            out.append((i, decode_one(data, where, channels), where))
        except DataError:
            if not skip_bad:
                raise
            out.append((i, None, where))
    return out


def _chunks(images: ImageList) -> Iterator[list[tuple[int, bytes, str]]]:
    chunk = []
    for i, data in iter_bytes(images):
        chunk.append((i, data, _where(images, i)))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decoded(images: ImageList, channels: int, skip_bad: bool):
    """(index, array or None, where) of every image. Large sets decode in a process pool, one
    worker per core, while this process reads the files (an archive is read in one
    sequential pass); Pillow holds the GIL while it decodes, so threads would not help."""
    workers = min(os.cpu_count() or 1, 8)
    if len(images) < PARALLEL_MIN or workers < 2:
        for chunk in _chunks(images):
            yield from _decode_chunk(chunk, channels, skip_bad)
        return
    from concurrent.futures import ProcessPoolExecutor

    # fork where there is one: a spawned worker would first import torch through the package
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = [pool.submit(_decode_chunk, chunk, channels, skip_bad) for chunk in _chunks(images)]
        for future in pending:
            yield from future.result()


def decode_all(images: ImageList, channels: int = 0, size: Optional[tuple[int, int]] = None,
               skip_bad: bool = False) -> Decoded:
    """Decode every entry of ``images`` into one array.

    Args:
        channels: 1 or 3 forces grayscale or RGB; 0: RGB if any image has colour, else gray.
        size: (H, W) to resize every image to; None keeps the size, or resizes to the most
            common size when images differ.
        skip_bad: skip undecodable files (listed in ``Decoded.skipped``) instead of raising.
    """
    if channels not in (0, 1, 3):
        raise ValueError(f"data.channels must be 0 (auto), 1 or 3, got {channels}")
    arrays: list[Optional[np.ndarray]] = [None] * len(images)
    skipped = []
    for i, array, where in _decoded(images, channels, skip_bad):
        if array is None:
            skipped.append(where)
        arrays[i] = array
    keep = [i for i, a in enumerate(arrays) if a is not None]
    if not keep:
        raise DataError(f"{images.source}: no readable images ({len(skipped)} skipped)")
    kept = [arrays[i] for i in keep]
    n_channels = max(a.shape[2] for a in kept)
    if size is None:
        size = Counter(a.shape[:2] for a in kept).most_common(1)[0][0]
    resized = 0
    for j, a in enumerate(kept):
        if a.shape[2] != n_channels:  # gray among colour images
            a = np.repeat(a, n_channels, axis=2)
        if a.shape[:2] != tuple(size):
            from PIL import Image

            mode = "L" if a.shape[2] == 1 else "RGB"
            img = Image.fromarray(a[:, :, 0] if mode == "L" else a, mode)
            a = np.asarray(img.resize((size[1], size[0]), Image.BILINEAR)).reshape(size[0], size[1], -1)
            resized += 1
        kept[j] = a
    x = np.stack(kept).transpose(0, 3, 1, 2).copy()  # (N, C, H, W), contiguous
    y = np.asarray([images.labels[i] for i in keep], dtype=np.int64)
    return Decoded(x, y, list(images.classes), skipped, resized)
