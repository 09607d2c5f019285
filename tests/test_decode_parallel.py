"""The folder decode: the fast path (JPEGs through simplejpeg, workers writing into one
shared array) gives exactly what the plain Pillow decode gives, in the same order, with
the same errors and skipped files, and reports its progress."""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data_folder import make_folder

from netcoach.data import decode
from netcoach.data.errors import DataError
from netcoach.data.imagefiles import iter_bytes, list_images

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10" / "cifar10-train-jpeg.tar.gz"


def pillow_reference(images, channels=0, size=None, skip_bad=False):
    """The decode policy written the plain way (Pillow only, one image after another, the
    channel and size decisions over all images, then repeat and resize): what the fast
    path must reproduce bit for bit."""
    arrays, skipped = [], []
    for i, data in iter_bytes(images):
        where = decode._prefix(images) + images.names[i]
        try:
            arrays.append((i, decode._pillow(data, where, channels)))
        except DataError:
            if not skip_bad:
                raise
            skipped.append(where)
    n_channels = max(a.shape[2] for _, a in arrays)
    size = tuple(size) if size else Counter(a.shape[:2] for _, a in arrays).most_common(1)[0][0]
    out, resized = [], 0
    for _, a in arrays:
        a = np.repeat(a, n_channels, axis=2) if a.shape[2] != n_channels else a
        if a.shape[:2] != size:
            mode = "L" if n_channels == 1 else "RGB"
            img = Image.fromarray(a[:, :, 0] if mode == "L" else a, mode).resize((size[1], size[0]), Image.BILINEAR)
            a, resized = np.asarray(img).reshape(size[0], size[1], -1), resized + 1
        out.append(a.transpose(2, 0, 1))
    y = np.asarray([images.labels[i] for i, _ in arrays], dtype=np.int64)
    return np.stack(out), y, skipped, resized


def jpeg(arr, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", **kw)
    return buf.getvalue()


def noise(seed, shape):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def in_pool(monkeypatch, chunk=3):
    """Make even a tiny folder decode in a two-worker pool, in several chunks."""
    monkeypatch.setattr(decode, "PARALLEL_MIN", 1)
    monkeypatch.setattr(decode, "CHUNK", chunk)
    monkeypatch.setattr(decode, "_workers", lambda: 2)


def mixed_folder(root: Path, first: str = "normal") -> Path:
    """JPEGs (colour 4:2:0 and 4:4:4, progressive, gray) and PNGs, a few of another size,
    one CMYK JPEG; ``first`` puts an odd image first in the listing."""
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
    k = 0
    for c in ("cat", "dog"):
        for i in range(8):
            k += 1
            arr = noise(k, (12, 10, 3))
            kinds = [jpeg(arr), jpeg(arr, subsampling=0, quality=95), jpeg(arr, progressive=True),
                     jpeg(arr[:, :, 0]), None]
            data = kinds[i % len(kinds)]
            if data is None:
                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, format="PNG")
                data = buf.getvalue()
            suffix = "jpg" if data.startswith(b"\xff\xd8") else "png"
            (root / c / f"{i:03d}.{suffix}").write_bytes(data)
    (root / "dog" / "050.jpg").write_bytes(jpeg(noise(99, (7, 9, 3))))  # another size
    buf = io.BytesIO()
    Image.fromarray(noise(98, (12, 10, 4)), "CMYK").save(buf, format="JPEG")
    (root / "dog" / "051.jpg").write_bytes(buf.getvalue())
    if first == "gray":  # the first image in the listing is gray: the guess is 1 channel
        (root / "cat" / "000.jpg").write_bytes(jpeg(noise(97, (12, 10))))
    if first == "small":  # the first image has a size few others have
        (root / "cat" / "000.jpg").write_bytes(jpeg(noise(96, (5, 6, 3))))
    return root


@pytest.mark.parametrize("pooled", [False, True])
@pytest.mark.parametrize("first", ["normal", "gray", "small"])
def test_folder_decode_is_bit_identical_to_the_plain_pillow_decode(tmp_path, monkeypatch, pooled, first):
    images = list_images(mixed_folder(tmp_path / "imgs", first))
    want_x, want_y, _, want_resized = pillow_reference(images)
    if pooled:
        in_pool(monkeypatch)
    got = decode.decode_all(images)
    assert got.x.shape == want_x.shape and np.array_equal(got.x, want_x)
    assert np.array_equal(got.y, want_y) and got.resized == want_resized > 0


@pytest.mark.parametrize("channels,size", [(1, None), (3, None), (0, (6, 8)), (3, (6, 8)), (1, (12, 10))])
def test_forced_channels_and_size_match_the_plain_pillow_decode(tmp_path, monkeypatch, channels, size):
    images = list_images(mixed_folder(tmp_path / "imgs", "gray"))
    want_x, _, _, want_resized = pillow_reference(images, channels, size)
    in_pool(monkeypatch, chunk=4)
    got = decode.decode_all(images, channels, size)
    assert np.array_equal(got.x, want_x) and got.resized == want_resized


def test_the_pool_reports_or_skips_a_bad_file_as_the_serial_path_does(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "imgs", per_class=5, fmt="jpg")
    (root / "dog" / "002.jpg").write_bytes(b"not an image")
    (root / "eel" / "001.jpg").write_bytes((root / "eel" / "000.jpg").read_bytes()[:150])  # truncated
    images = list_images(root)
    in_pool(monkeypatch)
    with pytest.raises(DataError, match=r"dog/002.jpg: cannot decode image"):  # the first bad file
        decode.decode_all(images)
    kept = decode.decode_all(images, skip_bad=True)
    want_x, want_y, want_skipped, _ = pillow_reference(images, skip_bad=True)
    assert kept.skipped == want_skipped and [Path(s).name for s in kept.skipped] == ["002.jpg", "001.jpg"]
    assert np.array_equal(kept.x, want_x) and np.array_equal(kept.y, want_y)


def test_a_truncated_jpeg_fails_with_pillows_message_not_simplejpegs():
    data = jpeg(noise(1, (32, 32, 3)))[:300]
    with pytest.raises(DataError, match=r"x.jpg: cannot decode image \(OSError: Truncated File Read\)"):
        decode.decode_one(data, "x.jpg")


@pytest.mark.parametrize("kind", ["colour", "gray", "progressive", "444"])
def test_the_fast_jpeg_path_is_taken_and_gives_pillows_pixels(kind):
    arr = noise(3, (17, 23, 3))
    data = {"colour": jpeg(arr), "gray": jpeg(arr[:, :, 0]), "progressive": jpeg(arr, progressive=True),
            "444": jpeg(arr, subsampling=0)}[kind]
    fast = decode._fast_jpeg(data, 0)
    assert fast is not None
    assert np.array_equal(fast, decode._pillow(data, "x.jpg", 0))


def test_jpegs_pillow_converts_itself_do_not_take_the_fast_path():
    arr = noise(4, (8, 8, 3))
    buf = io.BytesIO()
    Image.fromarray(noise(5, (8, 8, 4)), "CMYK").save(buf, format="JPEG")
    assert decode._fast_jpeg(buf.getvalue(), 0) is None  # CMYK -> RGB is Pillow's formula
    assert decode._fast_jpeg(jpeg(arr), 1) is None  # colour asked as gray: Pillow's luma
    assert decode._fast_jpeg(jpeg(arr[:, :, 0]), 3) is None  # gray asked as RGB
    assert decode._fast_jpeg(b"\x89PNG\r\n", 0) is None


def test_a_jpeg_decompression_bomb_is_left_to_pillow_which_refuses_it(monkeypatch):
    data = jpeg(noise(6, (40, 40, 3)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: past Pillow's warning limit
    assert decode._fast_jpeg(data, 0) is None
    with pytest.raises(DataError, match="x.jpg: cannot decode image .*DecompressionBomb"):
        decode.decode_one(data, "x.jpg")


def test_progress_is_reported_per_chunk_up_to_the_total(tmp_path, monkeypatch):
    images = list_images(make_folder(tmp_path / "imgs", per_class=7))
    in_pool(monkeypatch, chunk=4)
    seen = []
    with decode.reporting(lambda done, total: seen.append((done, total))):
        decode.decode_all(images)
    decode.decode_all(images)  # outside the block: nothing more is reported
    assert seen == [(0, 21), (4, 21), (8, 21), (12, 21), (16, 21), (20, 21), (21, 21)]


def test_listing_order_and_content_match_os_walk(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=3)
    (root / "cat" / "sub" / "deeper").mkdir(parents=True)
    (root / "cat" / "sub" / "b.png").write_bytes((root / "cat" / "000.png").read_bytes())
    (root / "cat" / "sub" / "deeper" / "a.png").write_bytes((root / "cat" / "000.png").read_bytes())
    (root / "cat" / ".hidden.png").write_bytes(b"x")
    (root / "dog" / "zz").symlink_to(root / "cat" / "sub")  # a link to a folder: not followed
    want = []
    for c in ("cat", "dog", "eel"):
        for dirpath, dirnames, filenames in os.walk(root / c):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(f for f in filenames if not f.startswith(".")):
                p = Path(dirpath) / fn
                want.append((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns))
    images = list_images(root)
    assert images.names == [n for n, _, _ in want]
    assert images.fingerprint == [str(root.resolve()), *want]
    assert images.labels[:5] == [0, 0, 0, 0, 0] and "cat/sub/deeper/a.png" in images.names


@pytest.mark.skipif(not CIFAR.is_file(), reason=f"shared CIFAR-10 JPEG archive not found at {CIFAR}")
def test_cifar10_jpegs_decode_exactly_as_pillow_decodes_them(monkeypatch):
    images = list_images(CIFAR)
    keep = list(range(0, len(images), 10))  # 5,000 of the 50,000: every class, every 10th file
    images.names = [images.names[i] for i in keep]
    images.labels = [images.labels[i] for i in keep]
    want_x, want_y, _, _ = pillow_reference(images)
    in_pool(monkeypatch, chunk=512)
    got = decode.decode_all(images)
    assert got.x.shape == (5000, 3, 32, 32) and np.array_equal(got.x, want_x) and np.array_equal(got.y, want_y)
