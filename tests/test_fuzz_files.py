"""Generated bad files for every data source (Hypothesis): truncated, corrupted
mid-stream, wrong magic or type, wrong counts, odd image modes, archives with
traversal, absolute and link entries. Each must give a ``DataError`` naming the file,
or a decode equal to the reference (Pillow for images, numpy for IDX)."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from netcoach.data.decode import decode_one, image_channels
from netcoach.data.errors import DataError
from netcoach.data.idx import IDX_TYPES, read_idx, read_pair
from netcoach.data.imagefiles import list_images
from netcoach.data.standard import _unpickle

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # zips with repeated entries
SCALE = float(os.environ.get("NETCOACH_FUZZ_EXAMPLES", "1"))
FAST = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ mutations
@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` truncated, with bytes flipped, with bytes inserted, or unchanged."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "same"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(out) - 1))
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    if kind == "insert":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.binary(min_size=1, max_size=16)) + data[i:]
    return data


# ------------------------------------------------------------------ images
MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "CMYK"]
FORMATS = {"PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"), "JPEG": ("L", "RGB", "CMYK"),
           "BMP": ("1", "L", "P", "RGB"), "GIF": ("L", "P"), "TIFF": ("1", "L", "RGB", "CMYK", "I;16", "I")}


@st.composite
def image_files(draw) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    if mode in ("I;16", "I"):
        img = Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 257))
        img = img if mode == "I;16" else img.convert("I")
    else:
        img = Image.fromarray(rgb).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return f"x.{fmt.lower()}", draw(mutated(buf.getvalue()))


def reference_decode(data: bytes) -> np.ndarray | None:
    """What the documented rule gives, computed with Pillow and numpy directly."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:  # noqa: BLE001 - Pillow cannot read it: netcoach must refuse it
        return None
    if img.mode.startswith("I"):
        wide = np.asarray(img).astype(np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            return None
        return (wide >> 8).astype(np.uint8)[:, :, None]
    if img.mode == "F":
        return None
    gray = image_channels(img) == 1
    arr = np.asarray(img.convert("L" if gray else "RGB"))
    return arr[:, :, None] if gray else arr


# A 1 x 184,549,387 BMP header: Pillow refuses it as a decompression bomb (found by this fuzz).
BOMB_BMP = (b'BMj\x00\x00\x00\x00\x00\x00\x00>\x00\x00\x00(\x00\x00\x00\x01\x00\x00\x01\x0b\x00\x00\x00'
            b'\x01\x00\x01\x00\x00\x00\x00\x00,\x00\x00\x00\xc4\x0e\x00\x00\xc4\x0e\x00\x00\x02\x00\x00\x00'
            b'\x02\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00'
            b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x80\x00\x00\x00\x80\x00\x00\x00'
            b'\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00')


def test_a_decompression_bomb_is_refused_naming_the_file():
    with pytest.raises(DataError, match=r"folder/x\.bmp"):
        decode_one(BOMB_BMP, "folder/x.bmp")


@settings(max_examples=int(300 * SCALE), **FAST)
@given(image_files())
def test_any_image_bytes_decode_like_pillow_or_fail_naming_the_file(case):
    name, data = case
    want = reference_decode(data)
    try:
        got = decode_one(data, f"folder/{name}")
    except DataError as exc:
        assert f"folder/{name}" in str(exc) and "BytesIO" not in str(exc)
        assert "\n" not in str(exc)
        return
    assert want is not None, "netcoach decoded a file Pillow cannot read"
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ IDX
@st.composite
def idx_files(draw) -> bytes:
    code = draw(st.sampled_from(sorted(IDX_TYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3)))
    values = np.random.default_rng(draw(st.integers(0, 999))).integers(-100, 100, shape)
    arr = values.astype(np.dtype(IDX_TYPES[code]))
    header = bytes([0, 0, code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    raw = draw(mutated(header + arr.tobytes()))
    return gzip.compress(raw) if draw(st.booleans()) else raw


def reference_idx(raw: bytes) -> np.ndarray | None:
    """The IDX layout parsed with numpy (None when it is not a valid IDX file)."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        return None
    n = raw[3]
    if len(raw) < 4 + 4 * n:
        return None
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n)]
    dtype = np.dtype(IDX_TYPES[raw[2]])
    if len(raw) - 4 - 4 * n != int(np.prod(dims)) * dtype.itemsize:
        return None
    return np.frombuffer(raw, dtype, offset=4 + 4 * n).reshape(dims)


@settings(max_examples=int(300 * SCALE), **FAST)
@given(idx_files())
def test_any_idx_bytes_read_like_numpy_or_fail_naming_the_file(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("idx") / "train-images-idx3-ubyte"
    path.write_bytes(raw)
    try:
        got = read_idx(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    want = reference_idx(raw)
    assert want is not None, "netcoach read an invalid IDX file"
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@settings(max_examples=int(60 * SCALE), **FAST)
@given(n_images=st.integers(0, 4), n_labels=st.integers(0, 4), label=st.integers(0, 255),
       code=st.sampled_from(sorted(IDX_TYPES)))
def test_idx_pairs_with_wrong_counts_labels_or_types_are_refused(tmp_path_factory, n_images, n_labels,
                                                                 label, code):
    root = tmp_path_factory.mktemp("pair")
    images, labels = root / "img", root / "lab"
    images.write_bytes(bytes([0, 0, code, 3]) + b"".join(d.to_bytes(4, "big") for d in (n_images, 2, 2))
                       + np.zeros((n_images, 2, 2), np.dtype(IDX_TYPES[code])).tobytes())
    labels.write_bytes(bytes([0, 0, 8, 1]) + n_labels.to_bytes(4, "big") + bytes([label]) * n_labels)
    ok = code == 0x08 and n_images == n_labels and (n_labels == 0 or label < 10)
    try:
        x, y = read_pair(images, labels, 10)
    except DataError as exc:
        assert not ok and ("img" in str(exc) or "lab" in str(exc))
        return
    assert ok and x.shape == (n_images, 1, 2, 2) and x.dtype == np.uint8 and (y == label).all()


# ------------------------------------------------------------------ archives
NAMES = st.one_of(
    st.sampled_from(["a/1.png", "b/2.png", "a/x/3.png", "top/a/4.png", "/abs/a/5.png", "../a/6.png",
                     "a/../../7.png", "a/./8.png", ".hidden/9.png", "a/.DS_Store", "c:/a/10.png",
                     "a\\..\\..\\11.png", "a//12.png", "13.png", "__MACOSX/a/14.png"]),
    st.lists(st.sampled_from(["a", "b", "..", ".", "", "/", "x"]), min_size=1, max_size=4).map(
        lambda parts: "/".join(parts) + ".png"))


@st.composite
def archives(draw):
    entries = draw(st.lists(st.tuples(NAMES, st.sampled_from(["file", "symlink", "hardlink", "dir"])),
                            min_size=1, max_size=6))
    return draw(st.sampled_from(["tar", "zip"])), entries


PNG = (lambda b: (Image.fromarray(np.zeros((2, 2), np.uint8)).save(b, format="PNG"), b.getvalue())[1])(io.BytesIO())


def write_archive(path: Path, kind: str, entries) -> None:
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name, what in entries:
                info = zipfile.ZipInfo(name)  # "hardlink" and "dir" become plain files in a zip
                if what == "symlink":
                    info.external_attr = (0o120777 << 16)
                zf.writestr(info, "target" if what == "symlink" else PNG)
        return
    with tarfile.open(path, "w") as tar:
        for name, what in entries:
            info = tarfile.TarInfo(name)
            if what == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            elif what == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, "a/1.png"
            elif what == "dir":
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(PNG)
            tar.addfile(info, io.BytesIO(PNG) if what == "file" else None)


def escapes(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or bool(parts and ":" in parts[0])


@settings(max_examples=int(250 * SCALE), **FAST)
@given(archives())
def test_archives_with_traversal_absolute_or_link_entries_are_refused(tmp_path_factory, case):
    kind, entries = case
    path = tmp_path_factory.mktemp("arc") / f"data.{kind}"
    write_archive(path, kind, entries)
    links = ("symlink", "hardlink") if kind == "tar" else ("symlink",)  # a zip has no hard links
    dangerous = any(escapes(n) for n, _ in entries) or any(
        what in links and not any(p.startswith((".", "__MACOSX"))
                                                   for p in PurePosixPath(n).parts)
        for n, what in entries)
    try:
        images = list_images(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert not dangerous, f"read an archive with {entries}"
    for name in images.names:
        assert not escapes(name)
    for cls in images.classes:
        assert cls not in ("/", "..", ".", "") and "/" not in cls


# ------------------------------------------------------------------ CIFAR batches
@settings(max_examples=int(150 * SCALE), **FAST)
@given(st.one_of(st.binary(max_size=64),
                 st.builds(lambda n: pickle.dumps({b"data": np.zeros((n, 3072), np.uint8),
                                                   b"labels": [0] * n}, protocol=2),
                           st.integers(0, 3)).flatmap(mutated)))
def test_cifar_batch_bytes_are_a_batch_or_an_error_naming_the_file(data):
    try:
        batch = _unpickle(data, "cifar/data_batch_1")
    except DataError as exc:
        assert "cifar/data_batch_1" in str(exc)
        return
    assert isinstance(batch, dict)
