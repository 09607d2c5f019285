"""Trainer overhead: netcoach's ``Trainer`` (default callbacks) vs a minimal hand-written loop.

Both train the same model (same initial weights) on the same device-resident data
with the same batch size, optimizer, epochs and per-epoch validation (loss and
accuracy). The data is given to both as normalized float tensors, so the loader
does exactly the gather the hand loop does and the difference is the trainer:
callbacks (best-weights tracker, NaN guard), per-step metric accumulation,
step records, update-rule hooks and schedule calls. Measurements alternate
between the two (which goes first alternates too); the ratio is the median over
rounds of each round's ratio (adjacent measurements see the same machine load,
so the pairing cancels slow drifts), with its quartiles and the best-of ratio.

Time is the process's CPU time by default (``--clock process``): on a CPU run with
one thread that is the work done, and it is not inflated when other jobs share the
machine; ``--clock wall`` uses the wall clock instead.

Cases:
  mlp-digits  the default MLP (2x128) on scikit-learn's digits (1077 training images), 4 epochs
  cnn-mnist   a small CNN (netcoach's ``cnn``, width 32) on a subset of the shared MNIST
              (skipped with a message when ../shared/datasets is absent)
  mlp-digits+run
              mlp-digits with a run folder, for ``train.epochs``' default of 30 epochs (what
              ``netcoach train --data.name digits`` runs): a run folder has a fixed cost per run
              (the checkpoint written when training ends: about 2 ms of fsynced files and
              serialisation), and a 4-epoch, 34 ms fit would show mostly that, which no real run
              is; the 4-epoch setting is still printed (``mlp-digits+run@4``), with the run
              folder's cost per fit in ms (paired with the same fit without it), so nothing is
              hidden. Both sides train the same epochs.

netcoach's Adam runs torch's fused kernel by default (``optim.fused``), which the hand loop,
written as tutorials write it, does not: the cases above compare what a user gets. To
measure only the trainer's own cost, ``mlp-digits+run same-step`` gives the hand loop the
same fused step.

Run: ``PYTHONPATH=. python bench/trainer_overhead.py [--rounds 5]``; the last line is the ratio.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netcoach  # noqa: E402

CLOCK = {"process": time.process_time, "wall": time.perf_counter}
clock = time.process_time
from netcoach.api import best_checkpoint, build_trainer, default_callbacks, early_stopping  # noqa: E402
from netcoach.data import DataBundle, Split, build_data  # noqa: E402
from netcoach.models import build_model  # noqa: E402
from netcoach.train import RunFolder  # noqa: E402
from netcoach.train.monitor import resolve_monitor  # noqa: E402


def float_bundle(bundle: DataBundle) -> DataBundle:
    """The same splits as normalized float32 tensors (what a hand-written loop would hold)."""
    mean = torch.tensor(bundle.mean).view(1, -1, 1, 1)
    std = torch.tensor(bundle.std).view(1, -1, 1, 1)
    conv = lambda s: Split(((s.x.float() / bundle.scale) - mean) / std, s.y)  # noqa: E731
    return DataBundle(bundle.name, conv(bundle.train), conv(bundle.val), conv(bundle.test),
                      bundle.num_classes, bundle.class_names, scale=1.0, mean=None, std=None)


def hand_loop(model, data: DataBundle, batch_size: int, epochs: int, lr: float, seed: int,
              fused: bool = False) -> float:
    """The minimal loop; returns optimizer steps per second (validation included)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=fused)
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr, xva, yva = data.train.x, data.train.y, data.val.x, data.val.y
    n, steps = len(ytr), 0
    start = clock()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum = torch.zeros(())
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            x, y = xtr[idx], ytr[idx]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(y)
            steps += 1
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(xva[i:i + 1024]) for i in range(0, len(yva), 1024)])
            val = (F.cross_entropy(out, yva).item(), (out.argmax(1) == yva).float().mean().item())
        _ = (loss_sum.item() / n, val)
    return steps / (clock() - start)


def netcoach_loop(model, data: DataBundle, config, with_run: bool = False) -> float:
    """netcoach's trainer with the callbacks ``netcoach.train(save=False)`` uses, or with
    ``with_run`` those of a run folder too (metrics.jsonl, steps.jsonl, best and
    resumable last checkpoints written every epoch)."""
    trainer = build_trainer(config, model=model, data=data)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunFolder.create(tmp, "bench", "bench") if with_run else None
        default = trainer.task.default_monitor
        best = best_checkpoint(config, resolve_monitor(config, default), run)
        first, tail = default_callbacks(config, trainer, best, early_stopping(config, default), run)
        trainer.set_callbacks(first + tail)
        start = clock()
        trainer.fit()
        return trainer.step / (clock() - start)


def measure(name: str, bundle: DataBundle, overrides: dict, rounds: int, with_run: bool = False,
            run_cost: bool = False, hand_fused: bool = False) -> float:
    """Print and return the median paired ratio; ``run_cost`` (with ``with_run``): each round
    also trains netcoach without the run folder, and the median per-fit difference of the two
    (the run folder's cost, in ms) is printed."""
    config = netcoach.load_config(overrides={"train.device": "cpu", "diagnose.preflight": "false",
                                             "data.normalize": "none", **overrides})
    data = float_bundle(bundle)
    torch.manual_seed(0)
    model0 = build_model(config.model, data.input_shape, data.num_classes)
    bs, epochs, lr = config.data.batch_size, config.train.epochs, config.optim.lr
    hand_loop(copy.deepcopy(model0), data, bs, 1, lr, 0)  # warm-up both paths
    netcoach_loop(copy.deepcopy(model0), data, config, with_run)
    ours, hand, bare = [], [], []
    for r in range(rounds):
        pair = [lambda: ours.append(netcoach_loop(copy.deepcopy(model0), data, config, with_run)),
                lambda: hand.append(hand_loop(copy.deepcopy(model0), data, bs, epochs, lr, 0, hand_fused))]
        if run_cost:
            pair.append(lambda: bare.append(netcoach_loop(copy.deepcopy(model0), data, config, False)))
        for run in (pair if r % 2 == 0 else pair[::-1]):
            run()
    if run_cost:
        steps = epochs * len(data.train.y) // bs + (len(data.train.y) % bs > 0) * epochs
        cost = statistics.median(steps / o - steps / b for o, b in zip(ours, bare))
        print(f"{name}: the run folder costs {1e3 * cost:.1f} ms per fit (median of {rounds} rounds)")
    paired = sorted(o / h for o, h in zip(ours, hand))
    ratio = statistics.median(paired)
    print(f"{name:14s} netcoach {statistics.median(ours):7.1f} steps/s  hand loop "
          f"{statistics.median(hand):7.1f} steps/s  ratio {ratio:.3f}  (median of {rounds} paired "
          f"rounds, quartiles {paired[len(paired) // 4]:.3f}-{paired[(3 * len(paired)) // 4]:.3f}; "
          f"best-of ratio {max(ours) / max(hand):.3f})")
    return ratio


def mnist_bundle(train: int, val: int) -> DataBundle | None:
    from studies.shared_data import SHARED, mnist

    root = Path(__file__).resolve().parents[1]
    # beside the checkout, or beside a worktree folder (../../shared)
    found = [p for p in (SHARED, root.parent / "shared" / "datasets", root.parents[1] / "shared" / "datasets")
             if (p / "mnist").is_dir()]
    if not found:
        print(f"cnn-mnist    skipped: {SHARED / 'mnist'} not found")
        return None
    xtr, ytr, _, _ = mnist(found[0] / "mnist")
    x, y = torch.from_numpy(xtr[:train + val].copy()), torch.from_numpy(ytr[:train + val].copy())
    bundle = DataBundle("mnist", Split(x[:train], y[:train]), Split(x[train:], y[train:]),
                        Split(x[train:], y[train:]), 10, [str(i) for i in range(10)], scale=255.0)
    return build_data(netcoach.Config(), torch.device("cpu"), bundle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCK), default="process")
    args = parser.parse_args()
    global clock
    clock = CLOCK[args.clock]
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), device cpu, {args.clock} time")
    digits = build_data(netcoach.load_config(overrides={"data.name": "digits"}), torch.device("cpu"))
    mlp = {"model.name": "mlp", "train.epochs": "4"}
    ratios = [measure("mlp-digits", digits, mlp, args.rounds)]
    mnist = mnist_bundle(train=3000, val=1000)
    if mnist is not None:
        cnn = {"model.name": "cnn", "model.width": "32", "train.epochs": "2"}
        ratios.append(measure("cnn-mnist", mnist, cnn, args.rounds))
    # With a run folder: metrics/steps/monitors rows every epoch, best and last checkpoints
    # when checkpoint.min_interval_s says so and when training ends.
    ratios.append(measure("mlp-digits+run", digits, {**mlp, "train.epochs": "30"}, args.rounds,
                          with_run=True))
    measure("mlp-digits+run@4", digits, mlp, args.rounds, with_run=True, run_cost=True)
    same = measure("mlp-digits+run same-step", digits, {**mlp, "train.epochs": "30"}, args.rounds,
                   with_run=True, hand_fused=True)
    print(f"trainer's own cost (hand loop with the same fused Adam step): ratio {same:.3f}")
    print(f"ratio (netcoach / hand loop steps/s, default callbacks, worst case): {min(ratios):.3f}")


if __name__ == "__main__":
    main()
