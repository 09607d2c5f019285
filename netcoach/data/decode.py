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

import functools
import io
import multiprocessing
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Optional

import numpy as np

from netcoach.data.errors import DataError
from netcoach.data.imagefiles import ImageList, entry_reader

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
    fast = _fast_jpeg(data, channels)
    return fast if fast is not None else _pillow(data, where, channels)


def _pillow(data: bytes, where: str, channels: int) -> np.ndarray:
    img = _open(data, where, load=True)
    arr = _to_uint8(img, channels or image_channels(img), where)
    return arr[:, :, None] if arr.ndim == 2 else arr


@functools.cache
def _jpeg_libraries():
    """simplejpeg and Pillow, imported on first use (``import netcoach`` stays cheap) and
    looked up once, not per image."""
    import simplejpeg
    from PIL import Image

    return simplejpeg, Image


JPEG_SPACES = {"YCbCr": 3, "RGB": 3, "Gray": 1}  # JPEG colour spaces the fast path decodes


def _fast_jpeg(data: bytes, channels: int, slot: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
    """A baseline or progressive JPEG decoded by libjpeg-turbo through simplejpeg, or None
    where Pillow must decide (other formats, CMYK, a colour JPEG asked for as gray or a
    gray one as RGB (Pillow's own conversions), a decompression bomb, any error or
    libjpeg warning). Pillow decodes JPEGs with the same library and settings (accurate
    integer DCT, fancy upsampling), so the pixels are Pillow's: the tests compare both on
    every image of the CIFAR-10 folder. It skips Pillow's Python header parsing, which
    costs five times the decode of a 32x32 image. ``slot``: an (H, W, C) array to decode
    into when the image has that shape (then ``slot`` itself is returned)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    simplejpeg, Image = _jpeg_libraries()
    try:
        h, w, space, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    c = JPEG_SPACES.get(space)
    if c is None or channels not in (0, c) or h * w > (Image.MAX_IMAGE_PIXELS or h * w):
        return None
    into = slot if slot is not None and slot.shape == (h, w, c) else None
    try:
        a = simplejpeg.decode_jpeg(data, colorspace="GRAY" if c == 1 else "RGB", buffer=into)
    except ValueError:
        return None
    return slot if into is not None else a


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
CHUNK = 512         # images per task a worker takes (about 25 ms of work: the pool keeps both cores busy)

Progress = Callable[[int, int], None]  # (images decoded so far, images in all)
_progress: ContextVar[Optional[Progress]] = ContextVar("netcoach_decode_progress", default=None)


@contextmanager
def reporting(progress: Optional[Progress]) -> Iterator[None]:
    """Within the block, every ``decode_all`` reports ``progress(done, total)`` after each
    chunk of images. A context rather than an argument because the data sources are
    called by name from the config (``datasets.get(name)(cfg)``) and only some decode."""
    token = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(token)


@dataclass
class _Job:
    """One ``decode_all`` call as its workers see it (inherited by fork, never pickled).

    ``shape`` (H, W, C) is what an image must have to go straight into ``out`` (N, C, H, W):
    the first image's (its size replaced by ``size`` when given)."""

    images: ImageList
    prefix: str  # ``_prefix(images)``, computed once
    read: Callable[[int], bytes]
    channels: int
    size: Optional[tuple[int, int]]
    shape: tuple[int, int, int]
    skip_bad: bool
    out: np.ndarray


@dataclass
class _Part:
    """What one range of images gave besides the images written into ``out``: the ones of
    another shape (index -> array) or unreadable (index -> None), and how many were resized."""

    odd: dict[int, Optional[np.ndarray]] = field(default_factory=dict)
    resized: int = 0


def _prefix(images: ImageList) -> str:
    """What goes before an entry's name in messages: ``folder/`` or ``archive:``."""
    return f"{images.source}{'/' if images.source.is_dir() else ':'}"


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    mode = "L" if a.shape[2] == 1 else "RGB"
    img = Image.fromarray(a[:, :, 0] if mode == "L" else a, mode)
    return np.asarray(img.resize((size[1], size[0]), Image.BILINEAR)).reshape(size[0], size[1], -1)


def _decode_range(job: _Job, start: int, stop: int) -> _Part:
    """Decode images ``start..stop-1``: those of ``job.shape`` go into ``job.out``, the
    others into the returned part (the caller finishes them once the folder's channels and
    size are known). An image is resized here already when its final channels are certain
    (colour, or ``channels`` given): the same resize the caller would do, done in parallel."""
    part = _Part()
    h, w, c = job.shape
    block = np.empty((stop - start, h, w, c), np.uint8)  # HWC as decoded; transposed once per chunk
    for i in range(start, stop):
        slot = block[i - start]
        data = job.read(i)
        a = _fast_jpeg(data, job.channels, slot)
        if a is slot:  # decoded straight into place: the common case
            continue
        try:
            a = a if a is not None else _pillow(data, job.prefix + job.images.names[i], job.channels)
        except DataError:
            if not job.skip_bad:
                raise
            part.odd[i] = None
            continue
        if job.size and a.shape[:2] != job.size and (a.shape[2] == 3 or job.channels):
            a, part.resized = _resize(a, job.size), part.resized + 1
        if a.shape == job.shape:
            slot[...] = a
        else:
            part.odd[i] = a
    job.out[start:stop] = block.transpose(0, 3, 1, 2)  # odd rows are overwritten or dropped later
    return part


_JOB: Optional[_Job] = None  # the job of this worker process (set by its pool initializer)


def _start_worker(job: _Job) -> None:
    global _JOB
    _JOB = job


def _work(start: int, stop: int) -> _Part:
    return _decode_range(_JOB, start, stop)


def _workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, os.cpu_count() or 1, 8)


def _run(job: _Job) -> Iterator[tuple[int, _Part]]:
    """(images done, part) of every chunk, in order. Large sets decode in a process pool, one
    worker per core, each reading its own files and writing into ``job.out``, shared memory
    that fork gives every worker: nothing but the few odd images travels back. Pillow holds
    the GIL while it decodes, so threads would not help; without fork the decode is serial."""
    n = len(job.images)
    ranges = [(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]
    workers = _workers()
    if n < PARALLEL_MIN or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for s, e in ranges:
            yield e, _decode_range(job, s, e)
        return
    from concurrent.futures import ProcessPoolExecutor

    # fork: a spawned worker would first import torch through the package, and could not share ``out``
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(job,)) as pool:
        pending = [(e, pool.submit(_work, s, e)) for s, e in ranges]
        for e, future in pending:
            yield e, future.result()


def _first_shape(images: ImageList, read, channels: int, size) -> tuple[int, int, int]:
    """(H, W, C) most images are expected to have: from the first readable header."""
    for i in range(min(len(images), 16)):
        try:
            img = _open(read(i), images.names[i], load=False)
        except DataError:
            continue
        h, w = size or (img.height, img.width)
        return h, w, channels or image_channels(img)
    return 0, 0, 0  # nothing readable up front: every image takes the general path


def _shared_array(shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array in anonymous shared memory: forked workers write into the parent's pages."""
    import mmap

    nbytes = int(np.prod(shape))
    return np.frombuffer(mmap.mmap(-1, max(nbytes, 1)), np.uint8, count=nbytes).reshape(shape)


def decode_all(images: ImageList, channels: int = 0, size: Optional[tuple[int, int]] = None,
               skip_bad: bool = False) -> Decoded:
    """Decode every entry of ``images`` into one (N, C, H, W) array.

    Every image is decoded once, straight into its slot of the result when it has the
    expected shape (the case of nearly every folder); the rest (other channels or size,
    unreadable) are finished by the module's rules afterwards, so the result is the
    same whatever the order or chunking. Progress goes to the ``reporting`` callback.

    Args:
        channels: 1 or 3 forces grayscale or RGB; 0: RGB if any image has colour, else gray.
        size: (H, W) to resize every image to; None keeps the size, or resizes to the most
            common size when images differ.
        skip_bad: skip undecodable files (listed in ``Decoded.skipped``) instead of raising.
    """
    if channels not in (0, 1, 3):
        raise ValueError(f"data.channels must be 0 (auto), 1 or 3, got {channels}")
    size = tuple(size) if size else None
    read = entry_reader(images)
    h, w, c = _first_shape(images, read, channels, size)
    n = len(images)
    job = _Job(images, _prefix(images), read, channels, size, (h, w, c), skip_bad, _shared_array((n, c, h, w)))
    odd: dict[int, Optional[np.ndarray]] = {}
    resized = 0
    report = _progress.get()
    if report is not None:
        report(0, n)  # decoding starts (a bar can show before the first chunk is done)
    for done, part in _run(job):
        odd.update(part.odd)
        resized += part.resized
        if report is not None:
            report(done, n)
    return _assemble(job, odd, resized)


def _assemble(job: _Job, odd: dict[int, Optional[np.ndarray]], resized: int) -> Decoded:
    """The folder's channels and size from every image (RGB if any has colour; the given
    or most common size), and the images that differ brought to them."""
    images, (h, w, c) = job.images, job.shape
    skipped = [job.prefix + images.names[i] for i in sorted(odd) if odd[i] is None]
    keep = [i for i in range(len(images)) if odd.get(i, 0) is not None]
    if not keep:
        raise DataError(f"{images.source}: no readable images ({len(skipped)} skipped)")
    shape_of = lambda i: odd[i].shape if i in odd else job.shape  # noqa: E731
    n_channels = max(shape_of(i)[2] for i in keep) if odd else c
    size = job.size or (Counter(shape_of(i)[:2] for i in keep).most_common(1)[0][0] if odd else (h, w))
    x = job.out if len(keep) == len(images) else job.out[keep]
    if (size[0], size[1], n_channels) != job.shape:  # the first image was not the common kind
        x = np.empty((len(keep), n_channels, *size), np.uint8)
        redo = {j: odd[i] if i in odd else job.out[i].transpose(1, 2, 0) for j, i in enumerate(keep)}
    else:
        redo = {j: odd[i] for j, i in enumerate(keep) if i in odd}
    for j, a in redo.items():
        if a.shape[2] != n_channels:  # gray among colour images
            a = np.repeat(a, n_channels, axis=2)
        if a.shape[:2] != tuple(size):
            a, resized = _resize(a, size), resized + 1
        x[j] = a.transpose(2, 0, 1)
    y = np.asarray(images.labels, dtype=np.int64)[keep]
    return Decoded(x, y, list(images.classes), skipped, resized)
