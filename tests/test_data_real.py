"""The real data sets in ../shared/datasets (skipped cleanly when absent)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netcoach.config import DataConfig
from netcoach.data import channel_stats, datasets
from netcoach.data.imagefiles import list_images

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_real_counts(shared_datasets):
    b = datasets.get("mnist")(DataConfig(path=str(shared_datasets / "mnist")))
    y_train = torch.cat([b.train.y, b.val.y])
    assert len(y_train) == 60_000 and len(b.test) == 10_000
    assert torch.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(b.test.y).tolist() == MNIST_TEST_COUNTS
    assert b.input_shape == (1, 28, 28) and b.train.x.dtype == torch.uint8
    # the validation split is stratified: every class within one image of 20%
    val = torch.bincount(b.val.y).numpy()
    assert np.all(np.abs(val - 0.2 * np.asarray(MNIST_TRAIN_COUNTS)) <= 1)


def test_cifar10_archive_listing(shared_datasets):
    """The fast check: the archive's class layout, without decoding."""
    images = list_images(shared_datasets / "cifar10" / "cifar10-train-jpeg.tar.gz", keep_bytes=False)
    assert len(images) == 50_000 and len(images.classes) == 10
    assert np.bincount(images.labels).tolist() == [5000] * 10


@pytest.mark.slow
def test_cifar10_jpeg_folder_archive(shared_datasets, tmp_path):
    """Read straight from the tar.gz (50,000 JPEG decodes: the slow part), then once
    more from the decode cache."""
    cfg = DataConfig(name="folder", path=str(shared_datasets / "cifar10" / "cifar10-train-jpeg.tar.gz"),
                     cache_dir=str(tmp_path / "cache"), val_fraction=0.1, test_fraction=0.1)
    b = datasets.get("folder")(cfg)
    y = torch.cat([b.train.y, b.val.y, b.test.y])
    assert len(y) == 50_000 and b.num_classes == 10
    assert b.class_names == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                             "ship", "truck"]
    assert torch.bincount(y).tolist() == [5000] * 10
    assert b.input_shape == (3, 32, 32) and b.info["skipped"] == [] and b.info["resized"] == 0
    mean, std = channel_stats(b.train.x, 255.0)  # the README's measured values, roughly
    assert np.allclose(mean, [0.491, 0.481, 0.444], atol=0.01) and np.allclose(std, [0.246, 0.244, 0.262], atol=0.01)
    again = datasets.get("folder")(cfg)
    assert torch.equal(again.train.x, b.train.x)
