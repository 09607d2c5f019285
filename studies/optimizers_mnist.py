"""Compare optimizers on MNIST at the same budget (same model, data, epochs, batch size, seeds).

Usage (from the repository root; small and single-threaded on purpose):
    PYTHONPATH=$PWD python studies/optimizers_mnist.py [--train 10000] [--epochs 3] [--seeds 0,1]
                                                       [--lr default|finder]

Each optimizer gets its usual learning rate (Adam-type 1e-3; SGD 0.1; momentum/Nesterov 0.01
with alpha 0.9, whose long-run step lr / (1 - alpha) = 0.1 equals SGD's), or with ``--lr finder``
the LR finder's suggestion for it. Prints a Markdown table of test accuracy, mean +- std over seeds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import netcoach
from netcoach.data.base import DataBundle, Split
from netcoach.train.lr_find import lr_find
from studies.shared_data import SHARED, mnist

LRS = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "rmsprop": 1e-3, "adam": 1e-3, "radam": 1e-3}


def mnist_root() -> Path:
    """``shared/datasets/mnist`` beside the checkout, or beside any parent folder (worktrees)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "datasets" / "mnist"
        if candidate.is_dir():
            return candidate
    return SHARED / "mnist"


def bundle(n_train: int, n_val: int, seed: int = 0) -> DataBundle:
    """A train subset and a validation set from MNIST's training images, the full test set."""
    xtr, ytr, xte, yte = mnist(mnist_root())
    order = np.random.default_rng(seed).permutation(len(xtr))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    split = lambda x, y: Split(torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y)))  # noqa: E731
    return DataBundle(name="mnist", train=split(xtr[tr], ytr[tr]), val=split(xtr[va], ytr[va]),
                      test=split(xte, yte), num_classes=10, class_names=[str(i) for i in range(10)],
                      scale=255.0)


def config(name: str, lr: float, epochs: int, seed: int):
    return netcoach.load_config(overrides={
        "model.name": "mlp", "model.width": 128, "model.depth": 2, "optim.name": name,
        "optim.lr": lr, "train.epochs": epochs, "train.seed": seed, "data.batch_size": 64,
        "train.device": "cpu", "diagnose.preflight": False, "report.enabled": False})


def found_lr(name: str, data: DataBundle) -> float:
    """The LR finder's suggestion (course grid 1e-8..1, 200 batches; rule min/10)."""
    record = lr_find(netcoach.build_trainer(config(name, LRS[name], 1, 0), data=data))
    return record["suggestion"] if record["suggestion"] is not None else LRS[name]


def run(name: str, lr: float, data: DataBundle, epochs: int, seed: int) -> dict:
    cfg = config(name, lr, epochs, seed)
    start = time.perf_counter()
    result = netcoach.train(cfg, data=data, save=False)
    return {"test_acc": result.summary["test"]["test_acc"],
            "train_loss": result.history[-1]["train_loss"], "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--lr", choices=("default", "finder"), default="default",
                        help="each optimizer's usual lr, or the LR finder's suggestion for it")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    data = bundle(args.train, args.val)
    print(f"MNIST: {args.train} train / {args.val} val / {len(data.test)} test images; MLP 784-128-128-10; "
          f"{args.epochs} epochs, batch 64, seeds {seeds}, 1 CPU thread, lr: {args.lr}")
    print("| optimizer | lr | test acc (mean ± std) | final train loss | s/run |")
    print("|---|---|---|---|---|")
    for name in LRS:
        lr = LRS[name] if args.lr == "default" else found_lr(name, data)
        runs = [run(name, lr, data, args.epochs, s) for s in seeds]
        acc = [r["test_acc"] for r in runs]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        loss = statistics.mean(r["train_loss"] for r in runs)
        secs = statistics.mean(r["seconds"] for r in runs)
        print(f"| {name} | {lr:.3g} | {100 * statistics.mean(acc):.2f} ± {100 * sd:.2f} % | "
              f"{loss:.4f} | {secs:.1f} |", flush=True)


if __name__ == "__main__":
    main()
