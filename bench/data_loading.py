"""Data loading speed: the decode cache, and the device loader vs torch's DataLoader.

1. The shared CIFAR-10 training folder (50,000 JPEGs in a .tar.gz): first load
   (list + decode every image + write the cache, into an empty temporary cache
   folder) vs a cached load (the same call again) in images/s.
2. MNIST (60,000 x 1x28x28 uint8): one shuffled epoch of batches of 64 that end as
   normalized float tensors, by ``DeviceLoader`` vs ``torch.utils.data.DataLoader``
   over a ``TensorDataset`` of the same tensors (same conversion applied per batch).

Run: ``PYTHONPATH=. python bench/data_loading.py [--datasets DIR]``. Uses one thread.
The last line is the DeviceLoader / DataLoader ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from netcoach.config import DataConfig
from netcoach.data import DeviceLoader, Split, channel_stats, datasets
from netcoach.utils.runtime import make_generator

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def bench_cache(archive: Path) -> None:
    with tempfile.TemporaryDirectory() as cache:
        cfg = DataConfig(name="folder", path=str(archive), cache_dir=cache)
        t0 = time.perf_counter()
        first = datasets.get("folder")(cfg)
        t1 = time.perf_counter()
        again = datasets.get("folder")(cfg)
        t2 = time.perf_counter()
    n = len(first.train) + len(first.val) + len(first.test)
    assert torch.equal(first.train.x, again.train.x)
    print(f"cifar10 folder ({n} images, {archive.name}): first load {n / (t1 - t0):,.0f} images/s "
          f"({t1 - t0:.2f} s)")
    print(f"cifar10 folder: cached load {n / (t2 - t1):,.0f} images/s ({t2 - t1:.2f} s)")
    print(f"cifar10 folder: cached / first load ratio {(t1 - t0) / (t2 - t1):.1f}x")


def epoch_device(split: Split, mean, std, bs: int) -> int:
    loader = DeviceLoader(split, bs, scale=255.0, mean=mean, std=std, shuffle=True,
                          generator=make_generator(0, 1))
    count = 0
    for x, _ in loader:
        count += x.shape[0] > 0
    return count


def epoch_torch(split: Split, mean, std, bs: int) -> int:
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    loader = DataLoader(TensorDataset(split.x, split.y), batch_size=bs, shuffle=True,
                        generator=make_generator(0, 1))
    count = 0
    for x, _ in loader:
        x = (x.float().div_(255.0) - m) / s
        count += x.shape[0] > 0
    return count


def bench_loader(mnist: Path, bs: int = 64, repeats: int = 2) -> None:
    b = datasets.get("mnist")(DataConfig(path=str(mnist)))
    split = Split(torch.cat([b.train.x, b.val.x]), torch.cat([b.train.y, b.val.y]))
    mean, std = channel_stats(split.x, 255.0)
    rates = {}
    for name, fn in (("DeviceLoader", epoch_device), ("torch DataLoader(TensorDataset)", epoch_torch)):
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            batches = fn(split, mean, std, bs)
            best = min(best, time.perf_counter() - t0)
        rates[name] = batches / best
        print(f"mnist {len(split)} images, batch {bs}: {name} {rates[name]:,.0f} batches/s "
              f"({best:.2f} s per epoch)")
    ratio = rates["DeviceLoader"] / rates["torch DataLoader(TensorDataset)"]
    print(f"mnist batches/s ratio DeviceLoader / DataLoader: {ratio:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT, help="the shared datasets folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    archive = args.datasets / "cifar10" / "cifar10-train-jpeg.tar.gz"
    mnist = args.datasets / "mnist"
    if not archive.is_file() or not mnist.is_dir():
        raise SystemExit(f"shared datasets not found under {args.datasets}; pass --datasets DIR")
    bench_cache(archive)
    bench_loader(mnist)


if __name__ == "__main__":
    main()
