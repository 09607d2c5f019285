"""Ensembles on MNIST: independent members, a snapshot ensemble, and distillation.

Three comparisons on real MNIST (``../shared/datasets/mnist``), small MLPs, a few epochs
each, all through netcoach's own API (``train``, ``build_ensemble``, ``--ensemble.snapshots``,
``--distill.teacher``):

1. members: ``--members`` MLPs (width 64, 2 hidden layers) differing only in ``train.seed``,
   then ``build_ensemble`` on the official 10,000 test images. Printed: each member's test
   accuracy, the ensemble's, and the gain over the best member last (goal: >= 0.3 points).
2. snapshots: one run with ``cosine_restarts`` (SGD with momentum, lr 0.1, 5 cycles of 2
   epochs) and ``ensemble.snapshots 4`` (the last 4 cycles: the first cycle's weights are far
   from converged): each snapshot, their ensemble, the last snapshot alone.
3. distillation: the member ensemble is the teacher; students are MLPs with one hidden layer
   of 32 units (< 1/10 of the teacher's parameters), trained from scratch and distilled
   (T 3, alpha 0.7: Hinton et al. found intermediate temperatures best for students much
   smaller than the teacher) with 3 seeds each, on ``--student-size`` of the teacher's
   training images (soft targets help most where labels are few); printed: the mean of the
   3 seeds (goal: >= 0.5 points).

To fit in ~10 minutes on 2 shared cores, every run trains on the same random
``--train-size`` images of MNIST's training split (validation: 2,000 of the rest); the
test split is the official one, rebuilt by ``build_ensemble`` from the runs' config.

Run: ``PYTHONPATH=. python bench/ensembles.py [--members 5] [--train-size 10000] [--epochs 4]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netcoach  # noqa: E402
from netcoach.data import build_data  # noqa: E402
from netcoach.ensemble import build_ensemble  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


def base_overrides(runs: Path, epochs: int) -> dict:
    return {"data.name": "mnist", "data.path": str(MNIST), "data.download": "false",
            "data.batch_size": "128", "model.name": "mlp", "model.width": "64", "model.depth": "2",
            "optim.lr": "0.003", "train.epochs": str(epochs), "run.dir": str(runs),
            "diagnose.preflight": "false", "diagnose.monitor": "false", "report.enabled": "false",
            "log.steps": "false"}


def subset(config, train_size: int, val_size: int = 2000):
    """The MNIST bundle with ``train_size`` random training images and ``val_size`` for
    validation; the official test split unchanged."""
    bundle = build_data(replace(config, data=replace(config.data, normalize="none")), torch.device("cpu"))
    order = torch.randperm(len(bundle.train), generator=torch.Generator().manual_seed(0))
    pick = lambda split, idx: type(split)(split.x[idx], split.y[idx])  # noqa: E731
    return replace(bundle, train=pick(bundle.train, order[:train_size]),
                   val=pick(bundle.val, torch.arange(min(val_size, len(bundle.val)))), mean=None, std=None)


def train(overrides: dict, data, **extra):
    return netcoach.train(netcoach.load_config(overrides={**overrides, **extra}), data=data, progress=False)


def acc(summary: dict) -> float:
    return 100 * summary["test_acc"]


def members_bench(over: dict, data, k: int) -> Path:
    print(f"members: {k} x mlp width 64 x 2 layers, {len(data.train)} training images, "
          f"{over['train.epochs']} epochs, seeds 0..{k - 1}")
    runs = [train(over, data, **{"train.seed": str(s), "run.name": f"member-{s}"}).run_dir for s in range(k)]
    result = build_ensemble(runs, name="members-ensemble")
    s = result.summary
    for i, m in enumerate(s["members"]):
        print(f"  member {i + 1} (seed {m['seed']}, {m['parameters']:,} parameters): test_acc {acc(m['test']):.2f}%")
    print(f"  ensemble of {k}: test_acc {acc(s['ensemble']):.2f}%  "
          f"(mean pairwise disagreement {100 * s['disagreement']['mean']:.2f}%)")
    print(f"  gain over the best member: {100 * s['gain_over_best']:+.2f} points (goal >= 0.3)")
    return result.path


def snapshots_bench(over: dict, data, cycles: int = 5, kept: int = 4, per: int = 2) -> None:
    print(f"snapshots: one run, cosine_restarts {cycles} cycles of {per} epochs (SGD momentum, lr 0.1), "
          f"the last {kept} kept")
    result = train(over, data, **{"run.name": "snapshots", "optim.name": "momentum", "optim.lr": "0.1",
                                  "schedule.name": "cosine_restarts", "schedule.t0_epochs": str(per),
                                  "train.epochs": str(cycles * per), "ensemble.snapshots": str(kept)})
    snap = result.summary["snapshots"]
    for m in snap["members"]:
        print(f"  snapshot {m['index']} (epoch {m['epoch']}): test_acc {acc(m['test']):.2f}%")
    last = snap["members"][-1]["test"]
    print(f"  snapshot ensemble of {kept}: test_acc {acc(snap['ensemble']):.2f}%  "
          f"last snapshot alone: {acc(last):.2f}%  gain {acc(snap['ensemble']) - acc(last):+.2f} points")


def distill_bench(over: dict, data, teacher: Path, size: int, epochs: int, seeds: int = 3) -> None:
    student = {"model.width": "32", "model.depth": "1", "train.epochs": str(epochs)}
    data = replace(data, train=type(data.train)(data.train.x[:size], data.train.y[:size]))
    print(f"distillation: teacher = the member ensemble; student mlp 1 x 32 units, T 3, alpha 0.7, "
          f"{size} of the teacher's training images, {epochs} epochs, {seeds} seeds")
    scratch, distilled = [], []
    for s in range(seeds):
        a = train(over, data, **student, **{"train.seed": str(s), "run.name": f"scratch-{s}"})
        b = train(over, data, **student, **{"train.seed": str(s), "run.name": f"distilled-{s}",
                                            "distill.teacher": str(teacher), "distill.baseline": str(a.run_dir),
                                            "distill.temperature": "3", "distill.alpha": "0.7"})
        scratch.append(acc(a.summary["test"]))
        distilled.append(acc(b.summary["test"]))
        t = b.summary["distill"]["teacher"]
        print(f"  seed {s}: from scratch {scratch[-1]:.2f}%  distilled {distilled[-1]:.2f}%  "
              f"(teacher {acc(t['test']):.2f}%, {t['parameters']:,} parameters; student "
              f"{b.summary['parameters']:,} = 1/{t['parameters'] / b.summary['parameters']:.0f})")
    gain = statistics.mean(distilled) - statistics.mean(scratch)
    print(f"  mean of {seeds}: from scratch {statistics.mean(scratch):.2f}%  distilled "
          f"{statistics.mean(distilled):.2f}%  gain {gain:+.2f} points (goal >= 0.5)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--student-size", type=int, default=5000)
    parser.add_argument("--student-epochs", type=int, default=6)
    parser.add_argument("--skip", nargs="*", default=[], choices=("snapshots", "distill"))
    args = parser.parse_args()
    if not MNIST.is_dir():
        print(f"MNIST not found at {MNIST}; this benchmark needs the shared datasets")
        return 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        over = base_overrides(Path(tmp), args.epochs)
        data = subset(netcoach.load_config(overrides=over), args.train_size)
        ensemble = members_bench(over, data, args.members)
        if "snapshots" not in args.skip:
            snapshots_bench(over, data)
        if "distill" not in args.skip:
            distill_bench(over, data, ensemble, args.student_size, args.student_epochs)
    print(f"total {time.perf_counter() - started:.0f} s on {torch.get_num_threads()} threads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
