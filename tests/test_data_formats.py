"""IDX (MNIST/Fashion-MNIST) and CIFAR python-version readers on tiny synthetic files
written in the official formats, and their errors on bad input."""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile

import numpy as np
import pytest

from netcoach.config import DataConfig
from netcoach.data import DataError, datasets
from netcoach.data.idx import read_idx


def write_idx(path, arr: np.ndarray, magic_type: int = 0x08, gz: bool = False, cut: int = 0):
    header = bytes([0, 0, magic_type, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    raw = raw[:len(raw) - cut] if cut else raw
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def make_mnist(root, n_train=40, n_test=20, gz=True, labels_train=None):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    ytr = np.arange(n_train) % 10 if labels_train is None else labels_train
    write_idx(root / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28)), gz=gz)
    write_idx(root / f"train-labels-idx1-ubyte{suffix}", ytr, gz=gz)
    write_idx(root / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28)), gz=gz)
    write_idx(root / f"t10k-labels-idx1-ubyte{suffix}", np.arange(n_test) % 10, gz=gz)
    return root


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_sources_read_train_and_test(tmp_path, gz, name):
    make_mnist(tmp_path, gz=gz)
    b = datasets.get(name)(DataConfig(path=str(tmp_path), val_fraction=0.25))
    assert (len(b.train), len(b.val), len(b.test)) == (30, 10, 20)
    assert b.input_shape == (1, 28, 28) and b.train.x.dtype.__str__() == "torch.uint8"
    assert b.num_classes == 10 and b.scale == 255.0
    # the test set is exactly the t10k file, in order
    assert b.test.y.tolist() == [i % 10 for i in range(20)]
    raw = read_idx(tmp_path / f"t10k-images-idx3-ubyte{'.gz' if gz else ''}")
    assert np.array_equal(b.test.x[:, 0].numpy(), raw)


def test_idx_wrong_magic_names_file(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(DataError, match=r"x-idx3-ubyte: wrong IDX magic number 305419896"):
        read_idx(bad)


def test_idx_truncated_names_file(tmp_path):
    path = write_idx(tmp_path / "imgs-idx3-ubyte", np.zeros((5, 28, 28)), cut=10)
    with pytest.raises(DataError, match=r"imgs-idx3-ubyte: header says \(5, 28, 28\).*truncated"):
        read_idx(path)


def test_idx_count_mismatch(tmp_path):
    make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(39) % 10)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte holds 40 images but .*train-labels-idx1-ubyte "
                                        r"holds 39 labels"):
        datasets.get("mnist")(DataConfig(path=str(tmp_path)))


def test_idx_labels_out_of_range(tmp_path):
    make_mnist(tmp_path, gz=False, labels_train=np.r_[np.arange(39) % 10, 12])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: label 12 out of range 0..9"):
        datasets.get("mnist")(DataConfig(path=str(tmp_path)))


def test_idx_swapped_files(tmp_path):
    make_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").rename(tmp_path / "tmp")
    (tmp_path / "t10k-images-idx3-ubyte").rename(tmp_path / "t10k-labels-idx1-ubyte")
    (tmp_path / "tmp").rename(tmp_path / "t10k-images-idx3-ubyte")
    with pytest.raises(DataError, match="swapped"):
        datasets.get("mnist")(DataConfig(path=str(tmp_path)))


def test_missing_path_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.get("mnist")(DataConfig(path=str(tmp_path / "nope")))
    with pytest.raises(FileNotFoundError, match=r"no train-images-idx3-ubyte \(or .*\.gz\) found"):
        datasets.get("mnist")(DataConfig(path=str(tmp_path)))


# ----------------------------------------------------------------------------- CIFAR


def _batch(n, label_key, num_classes, seed):
    rng = np.random.default_rng(seed)
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: [int(v) for v in np.arange(n) % num_classes], b"batch_label": b"synthetic"}


def make_cifar10(root, n=20, as_tar=False, bad_label=False):
    top = root / "cifar-10-batches-py"
    top.mkdir(parents=True)
    files = {"batches.meta": {b"label_names": [f"c{i}".encode() for i in range(10)]}}
    for i in range(1, 6):
        files[f"data_batch_{i}"] = _batch(n, b"labels", 10, i)
    files["test_batch"] = _batch(n, b"labels", 10, 9)
    if bad_label:
        files["data_batch_3"][b"labels"][4] = 10
    for name, obj in files.items():
        (top / name).write_bytes(pickle.dumps(obj, protocol=2))
    if not as_tar:
        return root
    archive = root / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname="cifar-10-batches-py")
    return archive


@pytest.mark.parametrize("as_tar", [False, True, "folder"])
def test_cifar10_python_version(tmp_path, as_tar):
    path = make_cifar10(tmp_path, as_tar=bool(as_tar))
    if as_tar == "folder":  # data.path = a folder holding only the official archive
        (tmp_path / "dl").mkdir()
        path = path.rename(tmp_path / "dl" / path.name).parent
    b = datasets.get("cifar10")(DataConfig(path=str(path), val_fraction=0.2))
    assert (len(b.train) + len(b.val), len(b.test)) == (100, 20)
    assert b.input_shape == (3, 32, 32) and b.class_names[3] == "c3"
    # row-major 3072 = R plane, G plane, B plane of 32x32
    raw = pickle.loads((tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes())[b"data"]
    assert np.array_equal(b.test.x.numpy().reshape(20, -1), raw)
    assert np.array_equal(b.test.x[0, 1].numpy().ravel(), raw[0, 1024:2048])


def test_cifar10_label_out_of_range_names_batch(tmp_path):
    make_cifar10(tmp_path, bad_label=True)
    with pytest.raises(DataError, match=r"data_batch_3: label 10 out of range 0..9"):
        datasets.get("cifar10")(DataConfig(path=str(tmp_path)))


def make_cifar100(root):
    top = root / "cifar-100-python"
    top.mkdir(parents=True)
    meta = {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"k{i}".encode() for i in range(20)]}
    (top / "meta").write_bytes(pickle.dumps(meta))
    for name, n, seed in (("train", 400, 1), ("test", 100, 2)):
        batch = _batch(n, b"fine_labels", 100, seed)
        batch[b"coarse_labels"] = [v // 5 for v in batch[b"fine_labels"]]
        (top / name).write_bytes(pickle.dumps(batch))
    return root


@pytest.mark.parametrize("labels,k", [("fine", 100), ("coarse", 20)])
def test_cifar100_fine_and_coarse(tmp_path, labels, k):
    make_cifar100(tmp_path)
    b = datasets.get("cifar100")(DataConfig(path=str(tmp_path), labels=labels, val_fraction=0.25))
    assert b.num_classes == k and len(b.class_names) == k
    assert len(b.train) + len(b.val) == 400 and len(b.test) == 100
    assert int(b.test.y.max()) == k - 1


def test_cifar_refuses_code_in_pickle(tmp_path):
    make_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR python-version batch.*not allowed"):
        datasets.get("cifar10")(DataConfig(path=str(tmp_path)))


def test_unreadable_cifar_archive(tmp_path):
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage" + bytes(50))
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: unreadable archive"):
        datasets.get("cifar10")(DataConfig(path=str(bad)))


# ----------------------------------------------------------------------------- arrays


def test_arrays_entry_numpy_and_torch():
    import torch

    from netcoach.data import from_arrays

    x = torch.randint(0, 256, (60, 1, 4, 4), dtype=torch.uint8)
    y = torch.arange(60) % 3
    b = from_arrays(x, y, DataConfig(), scale=255.0, class_names=["a", "b", "c"])
    assert (len(b.train), len(b.val), len(b.test)) == (36, 12, 12) and b.train.x.dtype == torch.uint8
    b2 = from_arrays(x.numpy(), y.numpy(), DataConfig(), scale=255.0)
    assert torch.equal(b.train.x, b2.train.x)
    with pytest.raises(ValueError, match="labels go up to 2 but only 2 class names"):
        from_arrays(x, y, DataConfig(), class_names=["a", "b"])
    with pytest.raises(ValueError, match="labels must be >= 0, found -1"):
        from_arrays(x, y - 1, DataConfig())
    with pytest.raises(ValueError, match="60 inputs but 59 labels"):
        from_arrays(x, y[:59], DataConfig())


def test_normalization_statistics_come_from_train_only(tmp_path):
    import torch

    from netcoach.config import Config
    from netcoach.data import build_data, channel_stats

    make_mnist(tmp_path, n_train=200, gz=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.full((20, 28, 28), 255))  # a bright test set
    bundle = build_data(Config(data=DataConfig(name="mnist", path=str(tmp_path))), torch.device("cpu"))
    mean, std = channel_stats(bundle.train.x, 255.0)
    assert bundle.mean == pytest.approx(mean) and bundle.std == pytest.approx(std)
    rng_mean = 127.5 / 255  # the training pixels are uniform on 0..255; val and test left out
    assert abs(bundle.mean[0] - rng_mean) < 0.01
