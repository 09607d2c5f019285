"""Parallel decode: a process pool gives exactly the serial decode's arrays, order and errors."""

from __future__ import annotations

import numpy as np
import pytest
from test_data_folder import make_folder

from netcoach.data import decode
from netcoach.data.errors import DataError
from netcoach.data.imagefiles import list_images


def listing(root):
    return list_images(root)


def test_the_pool_decodes_the_same_arrays_in_the_same_order(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "imgs", per_class=7)
    images = listing(root)
    serial = decode.decode_all(images)
    monkeypatch.setattr(decode, "PARALLEL_MIN", 1)
    monkeypatch.setattr(decode, "CHUNK", 4)  # 21 images: several chunks, the last one short
    monkeypatch.setattr(decode.os, "cpu_count", lambda: 2)
    pooled = decode.decode_all(images)
    assert np.array_equal(serial.x, pooled.x) and np.array_equal(serial.y, pooled.y)
    assert serial.classes == pooled.classes


def test_the_pool_reports_or_skips_a_bad_file_as_the_serial_path_does(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "imgs", per_class=5)
    (root / "dog" / "002.png").write_bytes(b"not an image")
    images = listing(root)
    monkeypatch.setattr(decode, "PARALLEL_MIN", 1)
    monkeypatch.setattr(decode, "CHUNK", 3)
    monkeypatch.setattr(decode.os, "cpu_count", lambda: 2)
    with pytest.raises(DataError, match=r"dog/002.png: cannot decode image"):
        decode.decode_all(images)
    kept = decode.decode_all(images, skip_bad=True)
    assert len(kept.x) == 14 and [s.endswith("dog/002.png") for s in kept.skipped] == [True]
