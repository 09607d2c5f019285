"""Cost and readings of the live monitor on a default digits run.

Trains the default config (digits, cnn, Adam 1e-3) twice in this process, monitor
off and on (same seed, preflight off), and prints the per-layer update/weight
ratios the monitor recorded, the time spent inside the monitor as a fraction of
epoch time, wall-time ratios, and last the CPU-time ratio of the monitored run to
the plain one (CPU time is the least disturbed by other load on a shared machine).

    PYTHONPATH=$PWD python bench/diagnose_monitor.py [--epochs 10] [--model cnn] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import netcoach
from netcoach.diagnose.monitors import Monitor


def run(epochs: int, model: str, monitor: bool):
    cfg = netcoach.load_config(overrides={
        "model.name": model, "train.epochs": str(epochs), "diagnose.preflight": "false",
        "diagnose.monitor": "true" if monitor else "false", "report.enabled": "false"})
    started, cpu_started = time.perf_counter(), time.process_time()
    result = netcoach.train(cfg, save=False)
    wall = time.perf_counter() - started
    result.cpu_s = time.process_time() - cpu_started  # CPU time: robust to other load on the machine
    mons = [cb for cb in result.trainer.callbacks if isinstance(cb, Monitor)]
    return result, wall, (mons[0] if mons else None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run(1, args.model, True)  # warm-up (imports, allocator, first-call overheads)
    plain, monitored, fractions = [], [], []
    plain_epochs, monitored_epochs, plain_cpu, monitored_cpu = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so machine load drifts hit both alike
        base, wall, _ = run(args.epochs, args.model, False)
        plain.append(wall)
        plain_epochs += [h["epoch_time"] for h in base.history]
        plain_cpu.append(base.cpu_s)
        result, wall, mon = run(args.epochs, args.model, True)
        monitored.append(wall)
        epoch_s = [h["epoch_time"] for h in result.history]
        monitored_epochs += epoch_s
        monitored_cpu.append(result.cpu_s)
        fractions += [o / e for o, e in zip(mon.overhead_s, epoch_s)]
    print(f"update/weight ratio per layer (median over {args.epochs} epochs, last run):")
    for name in mon.records[0]["layers"]:
        ratios = [r["layers"][name]["update_ratio"] for r in mon.records]
        print(f"  layer {name:>4}: median {statistics.median(ratios):.2e}  epoch 1 {ratios[0]:.2e}  "
              f"last {ratios[-1]:.2e}")
    warnings = sum(len(r["warnings"]) for r in mon.records)
    print(f"monitor warnings in the last run: {warnings}")
    print(f"monitor time / train-epoch time: median {statistics.median(fractions):.2%}, "
          f"max {max(fractions):.2%} ({len(fractions)} epochs)")
    print(f"wall time plain {statistics.median(plain):.3f}s, monitored {statistics.median(monitored):.3f}s "
          f"(ratio {statistics.median(monitored) / statistics.median(plain):.3f}; noisy on a shared machine)")
    # The fastest epoch of each mode is the least disturbed by other load on the machine.
    print(f"train-epoch time plain min {min(plain_epochs) * 1e3:.1f} ms / median "
          f"{statistics.median(plain_epochs) * 1e3:.1f} ms, monitored min {min(monitored_epochs) * 1e3:.1f} ms "
          f"/ median {statistics.median(monitored_epochs) * 1e3:.1f} ms")
    print(f"ratio monitored/plain fastest train epoch: {min(monitored_epochs) / min(plain_epochs):.3f}")
    print(f"CPU time of a whole run: plain {min(plain_cpu):.3f}s, monitored {min(monitored_cpu):.3f}s (min of "
          f"{args.repeats})")
    print(f"ratio monitored/plain CPU time: {min(monitored_cpu) / min(plain_cpu):.3f}")


if __name__ == "__main__":
    main()
