"""Data that used to be read silently wrong, or failed with a message that did not
name the file: each case decodes correctly (checked against Pillow/numpy) or stops
with a ``DataError`` naming the file and what is wrong."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from netcoach.config import DataConfig
from netcoach.data.decode import decode_one
from netcoach.data.errors import DataError
from netcoach.data.folder import load_folder
from netcoach.data.idx import read_idx, read_pair
from netcoach.data.imagefiles import list_images


def png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


def rgb(seed: int, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def make_folder(root: Path, classes: dict[str, int], mostly_gray: bool = False) -> Path:
    """``n`` PNGs per class; ``mostly_gray``: all grayscale except one colour image."""
    for c, n in classes.items():
        (root / c).mkdir(parents=True)
        for i in range(n):
            arr = rgb(i + 100 * len(c))
            colour = not mostly_gray or (c == "b" and i == n - 1)
            data = png(arr) if colour else png(arr[:, :, 0])
            (root / c / f"{i:03d}.png").write_bytes(data)
    return root


def cfg(path: Path, **kw) -> DataConfig:
    return DataConfig(name="folder", path=str(path), cache=False, **kw)


# ------------------------------------------------------------------ image modes
def test_16_bit_png_is_scaled_to_uint8_by_dropping_the_low_byte():
    values = np.arange(0, 65536, 256 + 1, dtype=np.uint16)[:64].reshape(8, 8)  # 0 .. 64,764
    img = Image.fromarray(values)  # Pillow's I;16 mode: a 16-bit grayscale PNG
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I")
    out = decode_one(buf.getvalue(), "deep.png")
    assert out.shape == (8, 8, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :, 0], (values >> 8).astype(np.uint8))
    assert abs(out.mean() - values.mean() / 256) < 1  # not saturated at 255


def test_float_image_is_refused_with_the_file_name():
    buf = io.BytesIO()
    Image.fromarray(np.full((4, 4), 0.5, np.float32), "F").save(buf, format="TIFF")
    with pytest.raises(DataError, match=r"float\.tiff: .*32-bit float"):
        decode_one(buf.getvalue(), "float.tiff")


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK"])
def test_every_8_bit_mode_decodes_as_pillow_converts_it(mode):
    img = Image.fromarray(rgb(3)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format="TIFF" if mode == "CMYK" else "PNG")
    out = decode_one(buf.getvalue(), f"x.{mode}")
    want_gray = mode in ("1", "L", "LA")
    want = np.asarray(img.convert("L" if want_gray else "RGB"))
    np.testing.assert_array_equal(out[:, :, 0] if want_gray else out, want)


def test_streaming_and_in_memory_folders_pick_the_same_channels_and_size(tmp_path):
    root = make_folder(tmp_path / "imgs", {"a": 6, "b": 6}, mostly_gray=True)
    memory = load_folder(cfg(root))
    stream = load_folder(cfg(root, streaming=True, num_workers=0))
    assert tuple(memory.train.x.shape[1:]) == (3, 8, 8)
    assert tuple(stream.train.x.shape[1:]) == tuple(memory.train.x.shape[1:])
    assert tuple(stream.val.x.shape[1:]) == (3, 8, 8)


def test_a_folder_with_one_class_is_refused(tmp_path):
    root = make_folder(tmp_path / "imgs", {"only": 8})
    for streaming in (False, True):
        with pytest.raises(DataError, match=r"only one class folder \('only'\).*at least 2"):
            load_folder(cfg(root, streaming=streaming, num_workers=0))


def test_class_with_too_few_images_for_the_split_is_named(tmp_path):
    root = make_folder(tmp_path / "imgs", {"many": 10, "rare": 1})
    with pytest.raises(DataError, match=r"class folder 'rare' has 1 image"):
        load_folder(cfg(root))


def test_non_image_file_is_named_without_a_bytesio_repr(tmp_path):
    root = make_folder(tmp_path / "imgs", {"a": 4, "b": 4})
    (root / "a" / "notes.png").write_text("not an image")
    with pytest.raises(DataError) as err:
        load_folder(cfg(root))
    assert "a/notes.png" in str(err.value) and "BytesIO" not in str(err.value)
    assert "not an image file Pillow can read" in str(err.value)


# ------------------------------------------------------------------ archives
def tar_with(path: Path, entries: list[tuple[str, bytes | None]], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


GOOD = [(f"{c}/{i}.png", png(rgb(i))) for c in "ab" for i in range(4)]


@pytest.mark.parametrize("bad", ["/abs/a/x.png", "../a/x.png", "a/../../x.png"])
def test_archive_entry_outside_the_archive_is_refused(tmp_path, bad):
    for path in (tmp_path / "t.tar", tmp_path / "t.zip"):
        if path.suffix == ".tar":
            tar_with(path, GOOD + [(bad, png(rgb(9)))])
        else:
            with zipfile.ZipFile(path, "w") as zf:
                for name, data in GOOD + [(bad, png(rgb(9)))]:
                    zf.writestr(name, data)
        with pytest.raises(DataError, match=rf"{path.name}: entry '{bad}'.*outside"):
            list_images(path)


def test_archive_symlink_entry_is_refused(tmp_path):
    path = tar_with(tmp_path / "t.tar", GOOD, symlink="a/link.png")
    with pytest.raises(DataError, match=r"t.tar: entry 'a/link.png' is a link"):
        list_images(path)


# ------------------------------------------------------------------ IDX
def idx_bytes(type_code: int, arr: np.ndarray) -> bytes:
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@pytest.mark.parametrize("code", sorted(IDX_DTYPES))
def test_idx_type_byte_gives_the_dtype(tmp_path, code):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(IDX_DTYPES[code]) if code != 0x08 else \
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(code, arr))
    out = read_idx(path)
    assert out.dtype == np.dtype(IDX_DTYPES[code])
    np.testing.assert_array_equal(out, arr)


def test_idx_images_that_are_not_uint8_are_refused(tmp_path):
    images, labels = tmp_path / "img-idx3-ubyte", tmp_path / "lab-idx1-ubyte"
    images.write_bytes(idx_bytes(0x09, np.zeros((3, 2, 2), np.int8)))
    labels.write_bytes(idx_bytes(0x08, np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match=r"img-idx3-ubyte: IDX type 0x09 \(int8\).*uint8 \(0x08\)"):
        read_pair(images, labels, 10)


def test_idx_unknown_type_byte_names_the_valid_ones(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(DataError, match=r"x.idx: unknown IDX type byte 0x0a; valid: 0x08 \(uint8\)"):
        read_idx(path)


def test_gzip_corrupted_mid_stream_names_the_file(tmp_path):
    values = np.random.default_rng(0).integers(0, 4, (50, 28, 28)).astype(np.uint8)
    raw = gzip.compress(idx_bytes(0x08, values))  # compressible: real deflate blocks, not stored ones
    import zlib

    for k in range(len(raw) // 2, len(raw)):  # the first flip that breaks the deflate stream itself
        bad = bytearray(raw)
        bad[k] ^= 0xFF
        try:
            gzip.decompress(bytes(bad))
        except zlib.error:
            break
        except (OSError, EOFError):
            continue
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes(bad))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: corrupt gzip data"):
        read_idx(path)
