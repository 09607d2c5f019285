"""Time to accuracy on MNIST: the plain PyTorch tutorial loop vs netcoach's ``mnist-fast`` recipe.

The plain loop is the network every tutorial shows (conv32-conv64-maxpool-fc128,
dropout 0.25/0.5, Adam 1e-3, batch 128) on all 60,000 training images; its time is
the training time (its test evaluations excluded) until the end of the first epoch
whose test accuracy reaches 98.75%. ``mnist-fast`` runs as ``netcoach.train`` would
run it (preflight, per-epoch validation and the final test evaluation included, no
run folder); its time is the whole call, and its accuracy must reach 99.0%.

Both run in this process with the same torch threads, alternating in paired rounds
(which goes first alternates too); the ratio is the median of the rounds' ratios
(netcoach time / plain time; goal <= 0.5). Time is the process's CPU time by default
(``--clock process``: not inflated when other jobs share the machine).

Run: ``PYTHONPATH=. python bench/mnist_speed.py [--rounds 1] [--data ../shared/datasets/mnist]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netcoach  # noqa: E402
from netcoach.data import build_data  # noqa: E402
from netcoach.recipes import get_recipe  # noqa: E402
from netcoach.train.resume import with_overrides  # noqa: E402

CLOCK = {"process": time.process_time, "wall": time.perf_counter}
PLAIN_TARGET, RECIPE_TARGET = 0.9875, 0.99


def plain_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, 10))


def plain_loop(xtr, ytr, xte, yte, clock, max_epochs: int, seed: int = 0) -> tuple[float, float, int]:
    """(training seconds until the target, test accuracy then, epochs); the tutorial loop."""
    torch.manual_seed(seed)
    model = plain_net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    spent, acc = 0.0, 0.0
    for epoch in range(1, max_epochs + 1):
        start = clock()
        model.train()
        for idx in torch.randperm(len(ytr)).split(128):
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        spent += clock() - start
        model.eval()
        with torch.no_grad():
            acc = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, len(yte), 1000)) / len(yte)
        if acc >= PLAIN_TARGET:
            return spent, acc, epoch
    return spent, acc, max_epochs


def recipe_run(data_path: str, clock, threads: int) -> tuple[float, float, int]:
    config = with_overrides(get_recipe("mnist-fast").config(),
                            {"data.path": data_path, "train.threads": str(threads), "train.device": "cpu"})
    start = clock()
    result = netcoach.train(config, save=False, progress=False)
    return clock() - start, result.summary["test"]["test_acc"], result.trainer.epoch


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=3, help="epochs the plain loop may take")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="process")
    parser.add_argument("--data", default=None, help="MNIST folder (default: ../shared/datasets/mnist)")
    args = parser.parse_args()
    found = [Path(args.data)] if args.data else [p / "shared" / "datasets" / "mnist"
                                                 for p in (root.parent, root.parents[1])]
    found = [p for p in found if p.is_dir()]
    if not found:
        print("mnist_speed skipped: no MNIST folder (pass --data)")
        return
    clock = CLOCK[args.clock]
    torch.set_num_threads(args.threads)
    bundle = build_data(netcoach.load_config(overrides={"data.name": "mnist", "data.path": str(found[0]),
                                                        "data.normalize": "none"}), torch.device("cpu"))
    mean, std = 0.1307, 0.3081
    prep = lambda x: (x.float() / 255.0 - mean) / std  # noqa: E731
    # the tutorial trains on all 60,000 images: netcoach's validation split goes back in
    xtr, ytr = prep(torch.cat([bundle.train.x, bundle.val.x])), torch.cat([bundle.train.y, bundle.val.y])
    xte, yte = prep(bundle.test.x), bundle.test.y
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} time, "
          f"{len(ytr)} training / {len(yte)} test images")
    plain, ours = [], []
    for r in range(args.rounds):
        pair = [lambda: plain.append(plain_loop(xtr, ytr, xte, yte, clock, args.max_epochs)),
                lambda: ours.append(recipe_run(str(found[0]), clock, args.threads))]
        for job in (pair if r % 2 == 0 else pair[::-1]):
            job()
        (pt, pa, pe), (nt, na, ne) = plain[-1], ours[-1]
        print(f"round {r + 1}: plain loop {pt:6.1f} s to {pa:.4f} ({pe} epoch(s), target {PLAIN_TARGET})"
              f"{'' if pa >= PLAIN_TARGET else ' NOT REACHED'};  mnist-fast {nt:6.1f} s to {na:.4f} "
              f"({ne} epoch(s), target {RECIPE_TARGET}){'' if na >= RECIPE_TARGET else ' NOT REACHED'}")
    ratio = statistics.median(o[0] / p[0] for o, p in zip(ours, plain))
    print(f"ratio (mnist-fast time to {RECIPE_TARGET} / plain loop time to {PLAIN_TARGET}, median of "
          f"{args.rounds} paired round(s)): {ratio:.3f}")


if __name__ == "__main__":
    main()
