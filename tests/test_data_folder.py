"""The image-folder source: folders and archives, bad files, the decode cache, splits,
and the streaming path."""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from netcoach.config import Config, DataConfig
from netcoach.data import DataError, build_data, build_loaders, datasets
from netcoach.data import folder as folder_mod
from netcoach.data.stream import StreamLoader


def make_folder(root, classes=("cat", "dog", "eel"), per_class=6, size=(8, 8), mode="RGB", fmt="png"):
    rng = np.random.default_rng(1)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = size + ((3,) if mode == "RGB" else ())
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / c / f"{i:03d}.{fmt}")
    return root


def cfg(tmp_path, **kw) -> DataConfig:
    kw.setdefault("cache_dir", str(tmp_path / "cache"))
    return DataConfig(name="folder", val_fraction=1 / 6, test_fraction=1 / 6, **kw)


def all_images(b):
    return torch.cat([b.train.x, b.val.x, b.test.x]), torch.cat([b.train.y, b.val.y, b.test.y])


def test_folder_loads_classes_and_pixels(tmp_path):
    root = make_folder(tmp_path / "imgs")
    b = datasets.get("folder")(cfg(tmp_path, path=str(root)))
    assert b.class_names == ["cat", "dog", "eel"] and b.num_classes == 3
    assert (len(b.train), len(b.val), len(b.test)) == (12, 3, 3)
    assert b.input_shape == (3, 8, 8) and b.train.x.dtype == torch.uint8
    assert torch.bincount(b.test.y).tolist() == [1, 1, 1]  # stratified
    x, y = all_images(b)
    first = np.array(Image.open(root / "dog" / "000.png")).transpose(2, 0, 1)
    assert any(torch.equal(xi, torch.from_numpy(first)) and yi == 1 for xi, yi in zip(x, y))


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "zip"])
def test_folder_from_archive_matches_folder(tmp_path, kind):
    root = make_folder(tmp_path / "train")
    want = datasets.get("folder")(cfg(tmp_path, path=str(root), cache=False))
    archive = tmp_path / f"data.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for p in sorted(root.rglob("*.png")):
                zf.write(p, p.relative_to(tmp_path).as_posix())  # under a top folder train/
    else:
        with tarfile.open(archive, "w:gz" if kind == "tar.gz" else "w") as tar:
            tar.add(root, arcname="train")
    got = datasets.get("folder")(cfg(tmp_path, path=str(archive), cache=False))
    assert got.class_names == want.class_names
    for a, b in zip(all_images(got), all_images(want)):
        assert torch.equal(a, b)


def test_grayscale_and_resize_to_common_size(tmp_path):
    root = make_folder(tmp_path / "g", mode="L", size=(10, 10))
    Image.fromarray(np.zeros((20, 14), np.uint8), "L").save(root / "cat" / "big.png")
    b = datasets.get("folder")(cfg(tmp_path, path=str(root)))
    assert b.input_shape == (1, 10, 10) and b.info["resized"] == 1
    b2 = datasets.get("folder")(cfg(tmp_path, path=str(root), image_size=[6], channels=3))
    assert b2.input_shape == (3, 6, 6)


@pytest.mark.parametrize("content,problem", [(b"not an image at all", "not an image file Pillow can read"),
                                             ("truncate", "truncated")])
def test_bad_image_names_file(tmp_path, content, problem):
    root = make_folder(tmp_path / "imgs", fmt="jpg", size=(32, 32))
    bad = root / "dog" / "003.jpg"
    if content == "truncate":
        bad.write_bytes(bad.read_bytes()[:200])
    else:
        bad.write_bytes(content)
    with pytest.raises(DataError, match=rf"(?i)dog/003.jpg: cannot decode image .*{problem}.*data.skip_bad"):
        datasets.get("folder")(cfg(tmp_path, path=str(root)))
    b = datasets.get("folder")(cfg(tmp_path, path=str(root), skip_bad=True))
    assert len(b.train) + len(b.val) + len(b.test) == 17
    assert len(b.info["skipped"]) == 1 and b.info["skipped"][0].endswith("dog/003.jpg")


def test_empty_class_folder(tmp_path):
    root = make_folder(tmp_path / "imgs")
    (root / "fox").mkdir()
    with pytest.raises(DataError, match=r"imgs/fox: empty class folder"):
        datasets.get("folder")(cfg(tmp_path, path=str(root)))


def test_folder_without_class_subfolders(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "a.png")
    with pytest.raises(DataError, match=r"flat: no class sub-folders"):
        datasets.get("folder")(cfg(tmp_path, path=str(root)))


def test_unreadable_archive(tmp_path):
    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    with pytest.raises(DataError, match=r"broken.tar.gz: unreadable archive"):
        datasets.get("folder")(cfg(tmp_path, path=str(bad)))
    bad_zip = tmp_path / "broken.zip"
    bad_zip.write_bytes(b"PK\x03\x04 nonsense")
    with pytest.raises(DataError, match=r"broken.zip: unreadable archive"):
        datasets.get("folder")(cfg(tmp_path, path=str(bad_zip)))


def test_separate_val_and_test_folders(tmp_path):
    make_folder(tmp_path / "tr", per_class=5)
    make_folder(tmp_path / "va", classes=("cat", "eel"), per_class=2)
    make_folder(tmp_path / "te", per_class=3)
    b = datasets.get("folder")(cfg(tmp_path, train_path=str(tmp_path / "tr"), val_path=str(tmp_path / "va"),
                                   test_path=str(tmp_path / "te")))
    assert (len(b.train), len(b.val), len(b.test)) == (15, 4, 9)
    assert sorted(set(b.val.y.tolist())) == [0, 2]  # cat, eel mapped to the training indices
    make_folder(tmp_path / "odd", classes=("cow",), per_class=2)
    with pytest.raises(DataError, match=r"class folders \['cow'\] do not exist in the training folder"):
        datasets.get("folder")(cfg(tmp_path, path=str(tmp_path / "tr"), val_path=str(tmp_path / "odd")))


def test_decode_cache_hit_and_invalidation(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "imgs")
    calls = []
    real = folder_mod.decode_all
    monkeypatch.setattr(folder_mod, "decode_all", lambda *a, **k: calls.append(1) or real(*a, **k))
    c = cfg(tmp_path, path=str(root))
    first = datasets.get("folder")(c)
    second = datasets.get("folder")(c)
    assert len(calls) == 1  # the second load came from the cache
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)
    assert list((tmp_path / "cache" / "decoded").glob("*.x.npy"))
    # Changing one file (content, size, mtime) invalidates the entry.
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(root / "cat" / "000.png")
    st = os.stat(root / "cat" / "000.png")
    os.utime(root / "cat" / "000.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = datasets.get("folder")(c)
    assert len(calls) == 2
    x, _ = all_images(third)
    assert (x == 7).all(dim=(1, 2, 3)).any()
    shutil.rmtree(root / "eel")  # removing a class changes the key too
    assert datasets.get("folder")(c).num_classes == 2 and len(calls) == 3


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    from netcoach.data.download import cache_root

    monkeypatch.setenv("NETCOACH_CACHE", str(tmp_path / "envcache"))
    assert cache_root(None) == tmp_path / "envcache"
    assert cache_root(str(tmp_path / "cfg")) == tmp_path / "cfg"  # data.cache_dir wins
    monkeypatch.delenv("NETCOACH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(None) == tmp_path / "xdg" / "netcoach"


def test_streaming_path_matches_in_memory(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    config = Config(data=cfg(tmp_path, path=str(root), streaming=True, num_workers=1, batch_size=5))
    bundle = build_data(config, torch.device("cpu"))
    mem = build_data(Config(data=cfg(tmp_path, path=str(root), batch_size=5)), torch.device("cpu"))
    assert bundle.input_shape == mem.input_shape == (3, 8, 8)
    assert np.allclose(bundle.mean, mem.mean) and np.allclose(bundle.std, mem.std)
    loaders = build_loaders(config, bundle)
    ref = build_loaders(Config(data=cfg(tmp_path, path=str(root), batch_size=5)), mem)
    assert isinstance(loaders["train"], StreamLoader) and len(loaders["train"]) == len(ref["train"])
    got = list(loaders["train"])
    want = list(ref["train"])  # same generator seed, same split: the same batches
    for (xa, ya), (xb, yb) in zip(got, want):
        assert torch.equal(ya, yb) and torch.allclose(xa, xb)
    # resume mid-epoch: the remaining batches are the same
    it = iter(loaders["train"])
    next(it)
    state = loaders["train"].state_dict()
    rest = [y for _, y in it]
    loaders["train"].load_state_dict(state)
    assert [y.tolist() for _, y in loaders["train"]] == [y.tolist() for y in rest]


def test_streaming_gives_the_in_memory_alternating_flips_and_drops_the_same_last_batch(tmp_path):
    from netcoach.augment import build_augment
    from netcoach.config import AugmentConfig

    root = make_folder(tmp_path / "imgs", per_class=8)
    augment = AugmentConfig(transforms=["hflip"], hflip_mode="alternate")
    batches = {}
    for streaming in (False, True):
        config = Config(data=cfg(tmp_path, path=str(root), streaming=streaming, num_workers=1, batch_size=5,
                                 drop_last=True), augment=augment)
        train = build_loaders(config, build_data(config, torch.device("cpu")), transform=build_augment(augment))["train"]
        batches[streaming] = [b for _ in range(2) for b in train]  # two epochs: both ways round
    assert len(batches[True]) == len(batches[False]) == 2 * (16 // 5)  # 16 train images: 1 left out
    for (xa, ya), (xb, yb) in zip(batches[True], batches[False]):
        assert len(ya) == 5 and torch.equal(ya, yb) and torch.allclose(xa, xb)


@pytest.mark.parametrize("streaming", [False, True])
def test_train_on_folder_end_to_end(tmp_path, quick_overrides, streaming):
    import netcoach

    import json

    root = make_folder(tmp_path / "imgs", per_class=10)
    if not streaming:  # a bad file, skipped and recorded in the run folder's data.json
        (root / "dog" / "bad.png").write_bytes(b"not a png")
    cfg = netcoach.load_config(overrides={
        **quick_overrides, "train.epochs": 1, "data.name": "folder", "data.path": str(root),
        "data.cache_dir": str(tmp_path / "c"), "data.streaming": streaming, "data.num_workers": 0,
        "data.batch_size": 8, "run.name": "f", "data.skip_bad": not streaming})
    result = netcoach.train(cfg)
    assert result.summary["epochs_run"] == 1 and 0.0 <= result.summary["test"]["test_acc"] <= 1.0
    assert result.data.class_names == ["cat", "dog", "eel"]
    record = json.loads((result.run_dir / "data.json").read_text())
    assert [Path(p).name for p in record["skipped_files"]] == ([] if streaming else ["bad.png"])


def test_unpacked_archive_top_folder_is_descended(tmp_path):
    make_folder(tmp_path / "top" / "train", per_class=6)
    b = datasets.get("folder")(cfg(tmp_path, path=str(tmp_path / "top")))
    assert b.class_names == ["cat", "dog", "eel"] and len(b.train) + len(b.val) + len(b.test) == 18
