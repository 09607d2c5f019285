"""Data loading speed: the first decode of an image folder, the decode cache, and the
device loader vs torch's DataLoader.

1. The shared CIFAR-10 training set (50,000 32x32 JPEGs), unpacked once into a folder
   (``--unpack-dir``): the first load (list + decode every image + write the cache + split,
   into an empty cache folder) in images/s, in ROUNDS paired rounds with a plain per-file
   Pillow loop (os.walk, ``Image.open(path).convert("RGB")``, ``np.stack``: what a tutorial
   does, in one process) run in the same round, so a busy spell of the shared machine
   hits both; the medians and the median of the per-round ratios are printed. Imports
   (scikit-learn, Pillow, simplejpeg) are loaded before timing: a process pays them once,
   whatever the data. The load's CPU time (this process and its decode workers) is printed
   too: on a machine loaded by others, wall time is mostly waiting for a core.
   Then a cached load, and the first load of the .tar.gz itself (read in one pass).
2. MNIST (60,000 x 1x28x28 uint8): one shuffled epoch of batches of 64 that end as
   normalized float tensors, by ``DeviceLoader`` vs ``torch.utils.data.DataLoader``
   over a ``TensorDataset`` of the same tensors (same conversion applied per batch).

Run: ``PYTHONPATH=. python bench/data_loading.py [--datasets DIR] [--unpack-dir DIR]``.
Torch uses one thread; the decode uses a worker per core.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from netcoach.config import DataConfig
from netcoach.data import DeviceLoader, Split, channel_stats, datasets
from netcoach.utils.runtime import make_generator

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
ROUNDS = 3


def unpacked(archive: Path, where: Path) -> Path:
    """The archive's folder under ``where``, unpacked on the first run only."""
    root = where / "train"
    if not root.is_dir():
        where.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(where, filter="data")
    return root


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the decode workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def first_load(path: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, images) of a first load into an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        cfg = DataConfig(name="folder", path=str(path), cache_dir=cache)
        t0, c0 = time.perf_counter(), cpu_seconds()
        b = datasets.get("folder")(cfg)
        return time.perf_counter() - t0, cpu_seconds() - c0, len(b.train) + len(b.val) + len(b.test)


def plain_loop(root: Path) -> tuple[float, int]:
    """(wall s, images) of the plain per-file Pillow loop over the folder."""
    from PIL import Image

    t0 = time.perf_counter()
    arrays, labels = [], []
    for k, c in enumerate(sorted(os.listdir(root))):
        for dirpath, _, files in os.walk(root / c):
            for f in sorted(files):
                arrays.append(np.asarray(Image.open(os.path.join(dirpath, f)).convert("RGB")))
                labels.append(k)
    x = np.stack(arrays).transpose(0, 3, 1, 2).copy()
    return time.perf_counter() - t0, len(x)


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def bench_folder(archive: Path, unpack_dir: Path, rounds: int) -> None:
    import PIL.Image  # noqa: F401 - imports paid before timing (see the module docstring)
    import simplejpeg  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    root = unpacked(archive, unpack_dir)
    print(f"machine before: {load_average()}")
    ours, plain, ratios = [], [], []
    for r in range(rounds):
        wall, cpu, n = first_load(root)
        base, m = plain_loop(root)
        assert n == m
        ours.append(n / wall)
        plain.append(n / base)
        ratios.append(base / wall)
        print(f"round {r + 1}: netcoach first load {n / wall:8,.0f} images/s ({wall:.2f} s wall, "
              f"{cpu:.2f} s CPU: {n / cpu:,.0f} images per CPU-second)   plain Pillow loop "
              f"{n / base:7,.0f} images/s ({base:.2f} s)")
    print(f"machine after: {load_average()}")
    with tempfile.TemporaryDirectory() as cache:
        cfg = DataConfig(name="folder", path=str(root), cache_dir=cache)
        datasets.get("folder")(cfg)
        t0 = time.perf_counter()
        datasets.get("folder")(cfg)
        cached = time.perf_counter() - t0
    wall, _, n = first_load(archive)
    print(f"cifar10 {archive.name} (one pass over the archive): first load {n / wall:,.0f} images/s "
          f"({wall:.2f} s)")
    print(f"cifar10 folder: cached load {n / cached:,.0f} images/s ({cached:.2f} s)")
    print(f"cifar10 folder ({n} JPEGs, {os.cpu_count()} cores), median of {rounds} rounds: first load "
          f"{statistics.median(ours):,.0f} images/s; plain Pillow loop {statistics.median(plain):,.0f} "
          f"images/s; ratio netcoach / plain loop {statistics.median(ratios):.1f}x")


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
    parser.add_argument("--unpack-dir", type=Path, default=Path(tempfile.gettempdir()) / "netcoach-bench-cifar10",
                        help="where the CIFAR-10 archive is unpacked (once) for the folder benchmark")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="paired rounds of the first load")
    args = parser.parse_args()
    torch.set_num_threads(1)
    archive = args.datasets / "cifar10" / "cifar10-train-jpeg.tar.gz"
    mnist = args.datasets / "mnist"
    if not archive.is_file() or not mnist.is_dir():
        raise SystemExit(f"shared datasets not found under {args.datasets}; pass --datasets DIR")
    bench_folder(archive, args.unpack_dir, args.rounds)
    bench_loader(mnist)


if __name__ == "__main__":
    main()
