"""Transfer learning, CNN features -> scikit-learn, and pruning, on real data (CPU, minutes).

1. CIFAR-10 (the shared image folder, read by netcoach's folder source): a ResNet-20 is
   pretrained on classes 0-5 (4,600 train images per class, flip + crop, 10 epochs; cached
   under --cache so reruns skip it), then classes 6-9 are learned from 100 labelled images
   per class (80 train + 20 validation; 500 held-out test images per class) by the same
   ResNet-20: from scratch, linear probe (frozen backbone), full fine-tune, and the
   ``finetune`` recipe, each 30 epochs with the same augmentation; test accuracy, mean of
   3 seeds (the seed draws the new head and the batch order; the subsets are fixed).
2. A CNN trained on 20,000 MNIST images; its backbone features (FeatureExtractor in a
   scikit-learn Pipeline, standardized) fed to logistic regression, scored on the 10,000 test images.
3. An MNIST MLP pruned to 90% sparsity in 3 rounds with 2 fine-tuning epochs each; then
   the forward time of the dense, the masked and the pruned-permanent model.

Usage: python bench/transfer.py [--datasets ../shared/datasets] [--cache DIR] [--parts cifar,features,prune]
       [--smoke]
(--smoke: tiny sizes, only checks that every path runs.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import netcoach
from netcoach.config import DataConfig
from netcoach.data.base import DataBundle, Split
from netcoach.data.normalize import channel_stats
from netcoach.data.sources import datasets
from netcoach.train.checkpoint import load_weights
from netcoach.train.run import RunFolder
from netcoach.transfer.features import sklearn_threads
from netcoach.transfer.prune import permanent_state, prune_run, pruning_skeleton
from netcoach.transfer.recipe import finetune_config

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
QUIET = {"diagnose.preflight": "false", "diagnose.monitor": "false", "report.enabled": "false",
         "log.steps": "false", "train.threads": "2"}


def per_class(x, y, classes, counts, seed=0):
    """Disjoint per-class subsets: for each of ``counts`` n, n images of every class, labels
    renumbered 0..len(classes)-1."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in counts]
    for new, c in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(y == c))
        start = 0
        for i, n in enumerate(counts):
            parts[i].append((idx[start:start + n], new))
            start += n
    out = []
    for chosen in parts:
        idx = np.concatenate([i for i, _ in chosen])
        labels = np.concatenate([np.full(len(i), new) for i, new in chosen])
        out.append(Split(torch.as_tensor(x[idx]), torch.as_tensor(labels, dtype=torch.long)))
    return out


def bundle(name, splits, names, scale=255.0):
    return DataBundle(name, *splits, num_classes=len(names), class_names=list(names), scale=scale)


def all_images(source: DataBundle):
    x = torch.cat([source.train.x, source.val.x, source.test.x]).numpy()
    y = torch.cat([source.train.y, source.val.y, source.test.y]).numpy()
    return x, y


def run(config_overrides, runs, name, data, model=None):
    cfg = netcoach.load_config(overrides={**QUIET, **config_overrides, "run.dir": str(runs), "run.name": name})
    return netcoach.train(cfg, data=data, progress=False, model=model)


# Source network: ResNet-20 (BN) on classes 0-5 with flip + crop augmentation, Nesterov SGD with a
# one-cycle schedule. Conventional CIFAR settings (He et al.'s lr 0.1 and wd 5e-4 at batch 128).
SOURCE = {"model.name": "resnet", "model.resnet_depth": "20", "optim.name": "nesterov", "optim.lr": "0.1",
          "optim.momentum": "0.9", "optim.weight_decay": "5e-4", "schedule.name": "onecycle",
          "schedule.pct_start": "0.25", "data.batch_size": "128", "augment.transforms": "hflip,crop",
          "augment.crop_fill": "reflect", "train.epochs": "10"}
# Per class of 0-5: train, validation, test images (5,000 in all per class).
SOURCE_SPLIT = (4600, 200, 200)
# Target (classes 6-9): 80 train + 20 validation images per class (100 labelled), 500 test images
# per class, all disjoint from each other (classes 6-9 are never seen in pretraining).
TARGET_SPLIT = (80, 20, 500)
# Every target run: the same ResNet-20, batch 32, 30 epochs (the 320 images are cheap), the
# source's augmentation, Nesterov SGD, one cosine decay over the run (cosine_restarts with one
# cycle: it scales each parameter group's own lr, so discriminative rates survive).
TARGET = {"model.name": "resnet", "model.resnet_depth": "20", "optim.name": "nesterov",
          "optim.momentum": "0.9", "optim.weight_decay": "5e-4", "schedule.name": "cosine_restarts",
          "data.batch_size": "32", "augment.transforms": "hflip,crop", "augment.crop_fill": "reflect"}
TARGET_EPOCHS = 30


def cached_source(pre: DataBundle, cache: Path, smoke: bool) -> Path:
    """The source run folder in ``cache``, trained once: its name holds a hash of the
    settings and the split, so changing either trains a new one; an interrupted one is
    resumed from its last checkpoint."""
    settings = {**SOURCE, "train.epochs": "1" if smoke else SOURCE["train.epochs"], "split": SOURCE_SPLIT,
                "n": len(pre.train)}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache / f"cifar-source-{key}"
    if (folder / "summary.json").is_file():
        return folder
    if RunFolder(folder).has_checkpoint("last"):  # an interrupted earlier attempt: continue it
        netcoach.train(data=pre, progress=False, resume=folder)
        return folder
    if folder.exists():  # interrupted before its first checkpoint: start over
        shutil.rmtree(folder)
    run({**SOURCE, "train.epochs": settings["train.epochs"]}, cache, folder.name, pre)
    return folder


def cifar_transfer(archive: Path, cache: Path, runs: Path, smoke: bool, seeds: int) -> None:
    t0 = time.perf_counter()
    source = datasets.get("folder")(DataConfig(name="folder", path=str(archive), cache_dir=str(cache)))
    x, y = all_images(source)
    names = source.class_names
    k = 0.02 if smoke else 1
    pre = bundle("cifar-0-5", per_class(x, y, range(6), [max(int(n * k), 10) for n in SOURCE_SPLIT]), names[:6])
    # The target is normalized with the source's statistics, as the pretrained network saw its inputs.
    mean, std = channel_stats(pre.train.x, pre.scale)
    pre = replace(pre, mean=mean, std=std)
    target = replace(bundle("cifar-6-9", per_class(x, y, range(6, 10), [80, 20, max(int(500 * k), 20)], seed=1),
                            names[6:]), mean=mean, std=std)
    src = cached_source(pre, cache, smoke)
    src_summary = json.loads((src / "summary.json").read_text())
    print(f"cifar10: {len(x)} images; source {SOURCE['model.name']}-{SOURCE['model.resnet_depth']} trained on classes "
          f"0-5 ({len(pre.train)} train images, {SOURCE['train.epochs']} epochs, cached in {src}): "
          f"test_acc {src_summary['test']['test_acc']:.4f} on {len(pre.test)} held-out images "
          f"({time.perf_counter() - t0:.0f} s)")
    ep = 4 if smoke else TARGET_EPOCHS
    common = {**TARGET, "train.epochs": str(ep), "schedule.t0_epochs": str(ep)}
    variants = {
        "scratch": {"optim.lr": "0.05"},
        "linear probe": {"optim.lr": "0.05", "model.init_from": str(src), "transfer.freeze": "backbone"},
        "full fine-tune": {"optim.lr": "0.01", "model.init_from": str(src)},
    }
    scores: dict[str, list[float]] = {name: [] for name in [*variants, "finetune recipe"]}
    notes = ""
    for seed in range(seeds):
        for name, extra in variants.items():
            r = run({**common, **extra, "train.seed": str(seed)}, runs, f"{name.replace(' ', '-')}-{seed}", target)
            scores[name].append(r.summary["test"]["test_acc"])
            notes = notes or next((n for n in r.summary.get("notes", []) if n.startswith("init_from")), "")
        base = netcoach.load_config(overrides={**QUIET, **common, "optim.lr": "0.05", "train.seed": str(seed),
                                               "run.dir": str(runs), "run.name": f"recipe-{seed}"})
        cfg = finetune_config(src, base, epochs=ep - 3, freeze_epochs=3, lr_mult=10)
        scores["finetune recipe"].append(netcoach.train(cfg, data=target, progress=False).summary["test"]["test_acc"])
    print(f"  {notes}")
    print(f"cifar10 classes 6-9, 100 labelled images per class (80 train + 20 val), {len(target.test)} held-out "
          f"test images, {ep} epochs, mean of {seeds} seeds:")
    for name, values in scores.items():
        print(f"  {name:<16} test_acc {statistics.mean(values):.4f}  ({', '.join(f'{v:.3f}' for v in values)})")
    scratch = statistics.mean(scores["scratch"])
    best = max((n for n in scores if n != "scratch"), key=lambda n: statistics.mean(scores[n]))
    for name in ("full fine-tune", "finetune recipe", "linear probe"):
        gain = statistics.mean(scores[name]) - scratch
        print(f"  {name} - scratch: {100 * gain:+.1f} points (goal >= +10)")
    print(f"  best transfer: {best}; {time.perf_counter() - t0:.0f} s")


# The MNIST CNN: netcoach's cnn at width 64 (16-32-64 channels, 64 features). At width 16
# (8-16-32 channels, 32 features) its own head reached only 96.6% and the features 97.9%:
# too small a network, not a feature-extraction problem.
MNIST_CNN = {"model.name": "cnn", "model.width": "64", "optim.lr": "0.002", "train.epochs": "3"}


def mnist_features(mnist: Path, runs: Path, smoke: bool) -> None:
    t0 = time.perf_counter()
    source = datasets.get("mnist")(DataConfig(name="mnist", path=str(mnist)))
    n = 1000 if smoke else 20000
    train = Split(source.train.x[:n], source.train.y[:n])
    val = Split(source.val.x[:2000], source.val.y[:2000])
    data = bundle("mnist-20k", (train, val, source.test), source.class_names)
    r = run({**MNIST_CNN, "train.epochs": "1" if smoke else MNIST_CNN["train.epochs"]}, runs, "mnist-cnn", data)
    # Standardized features: the ReLU features' scales differ by orders of magnitude, and
    # lbfgs on unscaled inputs stops at max_iter before it converges.
    pipe = make_pipeline(netcoach.FeatureExtractor(str(r.run_dir)), StandardScaler(),
                         LogisticRegression(max_iter=1000))
    with sklearn_threads():  # OpenBLAS threads would fight torch's OpenMP pool on a small machine
        t1 = time.perf_counter()
        pipe.fit(train.x.numpy(), train.y.numpy())
        acc = pipe.score(source.test.x.numpy(), source.test.y.numpy())
    print(f"mnist cnn ({n} train images): head test_acc {r.summary['test']['test_acc']:.4f}; "
          f"its {r.model.feature_dim} backbone features -> StandardScaler -> LogisticRegression test_acc "
          f"{acc:.4f} on {len(source.test)} test images (goal >= 0.98; pipeline fit+score "
          f"{time.perf_counter() - t1:.1f} s, total {time.perf_counter() - t0:.0f} s)")


def forward_ms(models: dict, x, repeats=40) -> dict:
    """Median forward time per model; the models take turns, so a busy moment of the
    shared machine slows all of them alike."""
    times = {name: [] for name in models}
    with torch.no_grad():
        for m in models.values():
            m(x)
        for _ in range(repeats):
            for name, m in models.items():
                t = time.perf_counter()
                m(x)
                times[name].append(time.perf_counter() - t)
    return {name: 1000 * statistics.median(v) for name, v in times.items()}


def mnist_pruning(mnist: Path, runs: Path, smoke: bool) -> None:
    t0 = time.perf_counter()
    over = {"model.name": "mlp", "model.width": "256", "data.name": "mnist", "data.path": str(mnist),
            "train.epochs": "1" if smoke else "5", "optim.lr": "0.001", "data.batch_size": "128"}
    if smoke:
        over.update({"data.val_fraction": "0.9"})
    dense = run(over, runs, "mnist-mlp", None)
    report = prune_run(dense.run_dir, amount=0.9, rounds=3, finetune_epochs=1 if smoke else 2,
                       out=runs / "mnist-mlp-pruned")
    before = dense.summary["test"]["test_acc"]
    print(f"mnist mlp: dense test_acc {before:.4f}")
    for row in report["rounds"]:
        print(f"  round {row['round']}: sparsity {row['sparsity']:.3f}  test_acc {row['test']['test_acc']:.4f}  "
              f"layers {', '.join(f'{k} {v:.2f}' for k, v in row['layers'].items())}")
    after = report["rounds"][-1]["test"]["test_acc"]
    print(f"  90% sparsity: {100 * (after - before):+.2f} points (goal >= -0.5); {time.perf_counter() - t0:.0f} s")
    plain = netcoach.load_run(dense.run_dir)[1]
    masked = pruning_skeleton(netcoach.load_run(dense.run_dir)[1])
    masked.load_state_dict(load_weights(runs / "mnist-mlp-pruned" / f"round-{len(report['rounds'])}"
                                        / "checkpoints" / "best.safetensors"))
    permanent = netcoach.load_run(dense.run_dir)[1]
    permanent.load_state_dict(permanent_state(masked))
    x = torch.randn(1024, 1, 28, 28)
    torch.set_num_threads(1)
    ms = forward_ms({"dense": plain.eval(), "masked (reparametrized)": masked.eval(),
                     "pruned, permanent": permanent.eval()}, x)
    print("  forward of 1024 images, 1 thread, median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in ms.items())
          + " -- zeros in dense tensors save no time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT, help="the shared datasets folder")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/transfer2"),
                        help="where the CIFAR decode cache and the pretrained source network are kept")
    parser.add_argument("--parts", default="cifar,features,prune", help="which parts to run (comma-separated)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that every path runs")
    args = parser.parse_args()
    archive, mnist = args.datasets / "cifar10" / "cifar10-train-jpeg.tar.gz", args.datasets / "mnist"
    if not archive.is_file() or not mnist.is_dir():
        raise SystemExit(f"shared datasets not found under {args.datasets}; pass --datasets DIR")
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        parts = args.parts.split(",")
        if "cifar" in parts:
            cache = args.cache / "smoke" if args.smoke else args.cache
            cifar_transfer(archive, cache, runs, args.smoke, 1 if args.smoke else args.seeds)
        if "features" in parts:
            mnist_features(mnist, runs, args.smoke)
        if "prune" in parts:
            mnist_pruning(mnist, runs, args.smoke)


if __name__ == "__main__":
    main()
