"""CIFAR-10 on one GPU: netcoach's ``cifar10-94`` recipe vs the PyPI ``airbench`` package's airbench94.

Both are fed the same tensors: the 50,000-image training folder of ../shared/datasets/cifar10
(or ``--folder``), of which a stratified 10,000 images are held out as the test split
(``data.test_fraction 0.2``, split seed 0); both train on the other 40,000. airbench
reads its data through its own ``CifarLoader``, which loads ``cifar10/{train,test}.pt``
from the working directory: the bench writes those two files (from the same tensors) in
a temporary folder and runs airbench there. netcoach's best-epoch selection gets a
1,000-image validation slice of the training images (the one-cycle schedule makes the
last epoch the best one in practice); its accuracy is ``test_acc_tta`` (flip/shift TTA,
as airbench's tta_level 2), the time is the whole ``netcoach.train`` call.

Each seed runs both (order alternating), after one warm-up run of each (CUDA context,
cuDNN autotuning and torch.compile are not timed). Printed: mean accuracy and mean time
of each over the seeds, then the time ratio (netcoach / airbench, median of the seeds'
paired ratios; goal: 94% at <= 1.5x).

Needs a CUDA GPU and ``pip install airbench`` (it is not a netcoach dependency).
Run: ``PYTHONPATH=. python bench/cifar10_gpu.py [--seeds 5] [--folder PATH]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netcoach  # noqa: E402
from netcoach.data import DataBundle, Split, build_data  # noqa: E402
from netcoach.recipes import get_recipe  # noqa: E402
from netcoach.train.resume import with_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def shared_folder() -> Path | None:
    for base in (ROOT.parent, ROOT.parents[1], ROOT):
        path = base / "shared" / "datasets" / "cifar10" / "cifar10-train-jpeg.tar.gz"
        if path.is_file():
            return path
    return None


def load_tensors(folder: Path) -> DataBundle:
    """uint8 (N, 3, 32, 32) train (40,000) and held-out test (10,000) splits of the folder."""
    config = netcoach.load_config(overrides={"data.name": "folder", "data.path": str(folder),
                                             "data.test_fraction": "0.2", "data.val_fraction": "0.02",
                                             "data.normalize": "none"})
    bundle = build_data(config, torch.device("cpu"))
    train = Split(torch.cat([bundle.train.x, bundle.val.x]), torch.cat([bundle.train.y, bundle.val.y]))
    return DataBundle("cifar10-folder", train, Split(train.x[:1000], train.y[:1000]), bundle.test,
                      bundle.num_classes, bundle.class_names, scale=255.0)


def netcoach_run(bundle: DataBundle, seed: int, epochs: float | None = None) -> tuple[float, float]:
    overrides = {"train.seed": str(seed), "report.enabled": "false"}
    if epochs is not None:
        overrides["train.epochs"] = str(int(epochs))
    config = with_overrides(get_recipe("cifar10-94").config(), overrides)
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = netcoach.train(config, data=bundle, save=False, progress=False)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    test = result.summary["test"]
    return test.get("test_acc_tta", test["test_acc"]), seconds


@contextlib.contextmanager
def airbench_data(bundle: DataBundle):
    """A working directory holding cifar10/{train,test}.pt as airbench's CifarLoader reads them
    (NHWC uint8 images, int64 labels, class names)."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cifar10").mkdir()
        for name, split in (("train", bundle.train), ("test", bundle.test)):
            torch.save({"images": split.x.permute(0, 2, 3, 1).contiguous(), "labels": split.y.long(),
                        "classes": list(bundle.class_names)}, Path(tmp) / "cifar10" / f"{name}.pt")
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(old)


def airbench_run(airbench, seed: int, warmup: bool = False) -> tuple[float, float]:
    torch.manual_seed(seed)
    loader = airbench.CifarLoader("cifar10", train=True, batch_size=1024, aug=dict(flip=True, translate=2),
                                  altflip=True)
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = airbench.train94(loader, run=-1 if warmup else seed, verbose=False)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    acc = out["accuracy"] if isinstance(out, dict) else out
    return float(acc if not isinstance(acc, torch.Tensor) else acc.item()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None, help="the CIFAR-10 training folder/archive")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("cifar10_gpu skipped: no CUDA GPU on this machine")
        return
    try:
        import airbench
    except ImportError:
        raise SystemExit("cifar10_gpu needs the airbench package: pip install airbench") from None
    folder = args.folder or shared_folder()
    if folder is None:
        raise SystemExit("no CIFAR-10 folder: pass --folder (e.g. ../shared/datasets/cifar10/cifar10-train-jpeg.tar.gz)")
    bundle = load_tensors(folder)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, {len(bundle.train)} training / "
          f"{len(bundle.test)} test images")
    gpu_bundle = DataBundle(bundle.name, *(Split(s.x.cuda(), s.y.cuda()) for s in
                                           (bundle.train, bundle.val, bundle.test)),
                            bundle.num_classes, bundle.class_names, scale=255.0)
    with airbench_data(bundle):
        airbench_run(airbench, 0, warmup=True)
        netcoach_run(gpu_bundle, 0, epochs=1)
        ours, theirs = [], []
        for seed in range(args.seeds):
            pair = [lambda: ours.append(netcoach_run(gpu_bundle, seed)),
                    lambda: theirs.append(airbench_run(airbench, seed))]
            for job in (pair if seed % 2 == 0 else pair[::-1]):
                job()
            print(f"seed {seed}: cifar10-94 {ours[-1][0]:.4f} in {ours[-1][1]:.2f} s;  "
                  f"airbench94 {theirs[-1][0]:.4f} in {theirs[-1][1]:.2f} s", flush=True)
    for name, runs in (("cifar10-94", ours), ("airbench94", theirs)):
        print(f"{name:11s} mean test accuracy {statistics.mean(a for a, _ in runs):.4f}  "
              f"mean time {statistics.mean(t for _, t in runs):.2f} s  ({len(runs)} seeds)")
    ratio = statistics.median(o[1] / t[1] for o, t in zip(ours, theirs))
    print(f"ratio (cifar10-94 time / airbench94 time, median of {len(ours)} seeds): {ratio:.3f}")


if __name__ == "__main__":
    main()
