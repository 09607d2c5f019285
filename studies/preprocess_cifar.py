"""Study: ZCA whitening (whole image or 2x2 patches) vs per-channel standardization on CIFAR-10.

Same 10,000-image subset, split, network (netcoach's cnn), optimizer, epochs and seeds;
only ``data.normalize`` (and its epsilon / patch size) differs. Each mode is fitted once
on the training split (as ``build_data`` would) and shared by its seeds. Prints the fit
time, then per variant and seed the final validation and test accuracy, then the mean
over seeds. ``--time-sklearn`` also times scikit-learn's PCA on the same training matrix
(the measurement behind ``netcoach.data.whiten``'s choice of torch).

Run (about 25 minutes on one busy thread; decoded images are cached in --cache):
    PYTHONPATH=$PWD nice -n 10 python studies/preprocess_cifar.py
Results: studies/results/preprocess_cifar.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import netcoach
from netcoach.config.schema import DataConfig
from netcoach.data.preprocess import fit_normalizer
from studies.shared_data import CIFAR_CLASSES, SHARED, cifar10

VARIANTS = {
    "per_channel": {"data.normalize": "per_channel"},
    "zca": {"data.normalize": "zca", "data.zca_epsilon": "0.01"},
    "zca-patch2": {"data.normalize": "zca", "data.zca_patch": "2", "data.zca_epsilon": "1e-4"},
}


def load(per_class: int, root: Path, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of each class, decoded once into ``cache``."""
    file = cache / f"cifar10_{per_class}.npz"
    if not file.is_file():
        x, y = cifar10(per_class=per_class, root=root)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(file, x=x, y=y)
    d = np.load(file)
    return d["x"], d["y"]


def time_sklearn(x: torch.Tensor) -> None:
    from sklearn.decomposition import PCA

    flat = (x.double() / 255.0).flatten(1).numpy()
    for solver in ("covariance_eigh", "full"):
        t0 = time.perf_counter()
        PCA(svd_solver=solver).fit(flat)
        print(f"sklearn PCA(svd_solver={solver!r}) fit on {flat.shape}: {time.perf_counter() - t0:.1f}s",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=1000, help="images per class (10 classes)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", default="0,1", help="comma-separated train.seed values")
    parser.add_argument("--width", type=int, default=128, help="model.width of the cnn")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--data-root", type=Path, default=SHARED / "cifar10")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/preprocess"))
    parser.add_argument("--time-sklearn", action="store_true", help="also time sklearn's PCA fit")
    args = parser.parse_args()
    torch.set_num_threads(1)

    x, y = load(args.per_class, args.data_root, args.cache)
    split = DataConfig(val_fraction=0.1, test_fraction=0.1)
    data = netcoach.from_arrays(x, y, split, name="cifar10", scale=255.0, class_names=CIFAR_CLASSES)
    print(f"split: train {len(data.train)}  val {len(data.val)}  test {len(data.test)}", flush=True)
    if args.time_sklearn:
        time_sklearn(data.train.x)

    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.variants.split(",")
    bases, bundles = {}, {}
    for name in names:  # every fit first, so a mode that fails does so before any training
        bases[name] = {"model.name": "cnn", "model.width": str(args.width), "data.batch_size": "128",
                       "train.epochs": str(args.epochs), "schedule.name": "constant",
                       "diagnose.preflight": "false", "report.enabled": "false", **VARIANTS[name]}
        cfg = netcoach.load_config(overrides=bases[name])
        t0 = time.perf_counter()
        bundles[name] = replace(data, normalizer=fit_normalizer(cfg.data, data.train.x, data.scale))
        fitted = bundles[name].normalizer.params if bundles[name].normalizer is not None else {}
        print(f"{name}: fitted in {time.perf_counter() - t0:.1f}s {fitted} -> model input "
              f"{bundles[name].model_input_shape}", flush=True)
    finals: dict[str, list[float]] = {}
    for name in names:
        print(name, flush=True)
        for seed in seeds:
            cfg = netcoach.load_config(overrides={**bases[name], "train.seed": str(seed)})
            t0 = time.perf_counter()
            result = netcoach.train(cfg, data=bundles[name], save=False)
            val = result.history[-1]["val_acc"]
            test = result.summary["test"]["test_acc"]
            finals.setdefault(name, []).append(test)
            curve = " ".join(f"{h['val_acc']:.3f}" for h in result.history)
            print(f"  seed {seed}: final val_acc {val:.4f}  test_acc {test:.4f}  train_acc "
                  f"{result.history[-1]['train_acc']:.4f}  ({time.perf_counter() - t0:.0f}s)\n"
                  f"    val_acc per epoch: {curve}", flush=True)
    for name, accs in finals.items():
        spread = f" ± {statistics.stdev(accs):.4f}" if len(accs) > 1 else ""
        print(f"{name:12s} test_acc mean {statistics.mean(accs):.4f}{spread} over seeds {seeds}: "
              f"{', '.join(f'{a:.4f}' for a in accs)}")


if __name__ == "__main__":
    main()
