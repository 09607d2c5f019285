"""Study: does flip + crop (+ cutout) augmentation raise CIFAR-10 validation accuracy?

Same data subset, model, optimizer, schedule, seed and epoch budget; only
``augment.transforms`` differs. Prints, per variant, the validation accuracy at the
end of training (after the step decay of the learning rate: the number compared)
and the best epoch's, plus the curve.

Run (each variant ~7 minutes on one thread; variants can run as separate processes):
    PYTHONPATH=$PWD python studies/augment_cifar.py --per-class 100 --epochs 60 --step-size 45 --width 256
All runs made so far, including the larger settings where augmentation did not win within
the budget, are in studies/results/augment_cifar.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import netcoach
from netcoach.config.schema import DataConfig
from studies.shared_data import CIFAR_CLASSES, SHARED, cifar10

VARIANTS = {
    "none": "[]",
    "flip+crop": "hflip,crop",
    "flip+crop+cutout": "hflip,crop,cutout",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100, help="images per class (10 classes)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--step-size", type=int, default=45, help="epochs before the lr drops 10x")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=256, help="model.width of the cnn (base channels x4)")
    parser.add_argument("--data-root", type=Path, default=SHARED / "cifar10",
                        help="folder holding cifar10-train-jpeg.tar.gz")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    args = parser.parse_args()
    torch.set_num_threads(1)

    start = time.perf_counter()
    x, y = cifar10(per_class=args.per_class, root=args.data_root)
    print(f"loaded {len(x)} CIFAR-10 images in {time.perf_counter() - start:.0f}s", flush=True)
    data = netcoach.from_arrays(x, y, DataConfig(), name="cifar10", scale=255.0, class_names=CIFAR_CLASSES)
    print(f"split: train {len(data.train)}  val {len(data.val)}  test {len(data.test)}", flush=True)

    results = {}
    for name in args.variants.split(","):
        cfg = netcoach.load_config(overrides={
            "model.name": "cnn", "model.depth": "3", "model.width": str(args.width), "data.batch_size": "128",
            "train.epochs": str(args.epochs), "train.seed": str(args.seed),
            "schedule.name": "step", "schedule.step_size": str(args.step_size), "schedule.gamma": "0.1",
            "augment.transforms": VARIANTS[name], "augment.cutout_size": "8",
            "diagnose.preflight": "false", "report.enabled": "false"})
        t0 = time.perf_counter()
        result = netcoach.train(cfg, data=data, save=False)
        best = max(h["val_acc"] for h in result.history)
        results[name] = result.history[-1]["val_acc"]
        curve = " ".join(f"{h['val_acc']:.3f}" for h in result.history)
        print(f"{name:18s} best val_acc {best:.4f}  final val_acc {result.history[-1]['val_acc']:.4f}  "
              f"final train_acc {result.history[-1]['train_acc']:.4f}  "
              f"test_acc {result.summary['test']['test_acc']:.4f}  ({time.perf_counter() - t0:.0f}s)\n"
              f"  val_acc per epoch: {curve}", flush=True)
    base = results.get("none")
    for name, acc in results.items():
        if base is not None and name != "none":
            print(f"final val_acc {name}: {acc:.4f} vs none {base:.4f} ({100 * (acc - base):+.1f} points)")


if __name__ == "__main__":
    main()
