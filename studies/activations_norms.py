"""Batch norm before vs after ReLU, and relu vs elu vs selu vs tanh vs sigmoid, at the same budget.

The course (deck 000) shows CaffeNet/ImageNet tables for both questions; this is
the small-scale version on real MNIST: LeNet-5 trained on a stratified subset of
the training images, the best epoch (by validation accuracy) evaluated on a subset
of the official test set. Every run has the same data, epochs, batch size,
optimizer (Adam 1e-3) and default init; only the named option changes.

    PYTHONPATH=. python studies/activations_norms.py [--train 5000] [--epochs 3] [--seeds 2] [--only "relu, BN"]

Prints a markdown table (mean ± std over seeds of test accuracy and final train loss).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import netcoach
from netcoach.data import DataBundle, Split
from studies.shared_data import SHARED, mnist

# (label, model overrides): the BN placement pair, then the activations without and with BN.
RUNS = [("relu, BN before", {"model.norm": "batch", "model.norm_position": "before"}),
        ("relu, BN after", {"model.norm": "batch", "model.norm_position": "after"})]
RUNS += [(f"{a}, no norm", {"model.activation": a, "model.norm": "none"})
         for a in ("relu", "elu", "selu", "tanh", "sigmoid")]
RUNS += [(f"{a}, BN before", {"model.activation": a, "model.norm": "batch"})
         for a in ("elu", "selu", "tanh", "sigmoid")]


def _shared_root() -> Path:
    """../shared/datasets beside the checkout, or beside a parent (for git worktrees)."""
    candidates = [SHARED] + [p / "shared" / "datasets" for p in Path(__file__).resolve().parents]
    for path in candidates:
        if (path / "mnist").is_dir():
            return path
    raise FileNotFoundError(f"MNIST not found in any of: {', '.join(map(str, candidates))}")


def _take(y: np.ndarray, per_class: int, offset: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of each class, after skipping ``offset`` of each."""
    return np.concatenate([np.flatnonzero(y == c)[offset:offset + per_class] for c in range(10)])


def mnist_bundle(n_train: int, n_val: int, n_test: int) -> DataBundle:
    """A class-balanced MNIST subset: train/val from the training set, test from t10k."""
    xtr, ytr, xte, yte = mnist(_shared_root() / "mnist")
    tr, va = _take(ytr, n_train // 10), _take(ytr, n_val // 10, offset=n_train // 10)
    te = _take(yte, n_test // 10)
    split = lambda x, y, i: Split(torch.from_numpy(x[i].copy()), torch.from_numpy(y[i].copy()))  # noqa: E731
    return DataBundle(name="mnist-subset", train=split(xtr, ytr, tr), val=split(xtr, ytr, va),
                      test=split(xte, yte, te), num_classes=10,
                      class_names=[str(i) for i in range(10)], scale=255.0)


def run_one(bundle: DataBundle, overrides: dict, epochs: int, seed: int) -> dict:
    base = {"model.name": "lenet5", "train.epochs": str(epochs), "train.seed": str(seed),
            "train.device": "cpu", "data.batch_size": "64", "diagnose.preflight": "false",
            "report.enabled": "false"}
    config = netcoach.load_config(overrides={**base, **overrides})
    result = netcoach.train(config, data=bundle, save=False)
    return {"test_acc": result.summary["test"]["test_acc"],
            "train_loss": result.summary["final"]["train_loss"],
            "seconds": result.summary["wall_time_s"]}


def _fmt(values: list[float], pct: bool) -> str:
    scale = 100.0 if pct else 1.0
    mean = statistics.mean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {std:.2f}" if pct else f"{mean:.3f} ± {std:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=5000, help="training images (balanced)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--only", default="", help="run only the rows whose label contains this text")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bundle = mnist_bundle(args.train, 1000, 2000)
    print(f"MNIST subset: train {len(bundle.train)}, val {len(bundle.val)}, test {len(bundle.test)}; "
          f"LeNet-5, Adam 1e-3, batch 64, {args.epochs} epochs, seeds 0..{args.seeds - 1}\n")
    print("| run | test acc % | final train loss | s/run |\n|---|---|---|---|")
    started = time.perf_counter()
    for label, overrides in (r for r in RUNS if args.only in r[0]):
        rows = [run_one(bundle, overrides, args.epochs, seed) for seed in range(args.seeds)]
        print(f"| {label} | {_fmt([r['test_acc'] for r in rows], True)} | "
              f"{_fmt([r['train_loss'] for r in rows], False)} | "
              f"{statistics.mean(r['seconds'] for r in rows):.1f} |", flush=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
