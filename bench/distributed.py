"""Data-parallel throughput: ``netcoach train`` with 1 and 2 processes on this machine.

Both runs train the same MLP on scikit-learn's digits with the same global batch
(``data.batch_size``), one CPU thread per process, through the real CLI (the
2-process run is launched by torch elastic, gloo backend). Throughput is the
trainer's own ``samples_per_s`` (training samples of all ranks per second of the
epoch's wall time, evaluation excluded), the median over the epochs after the first.

It also measures where a 2-process step goes: the compute (forward + backward of one
rank's share of the batch, no communication) and the communication (an all-reduce of
a buffer as large as the model's gradients, which is what DDP sends per step). From
that split the note in docs/distributed.md estimates the scaling to more devices.

Run: ``PYTHONPATH=. python bench/distributed.py [--epochs 6] [--width 256]``; the last
line is the 2-process / 1-process throughput ratio. On a machine whose cores are
shared with other jobs the figures move with the load: say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train_throughput(nproc: int, args, folder: Path) -> float:
    """Median samples/s over epochs 2.. of one ``netcoach train`` run with ``nproc`` processes."""
    name = f"p{nproc}"
    cmd = [sys.executable, "-m", "netcoach", "train", "--quiet", "--model.name", "mlp",
           "--model.width", str(args.width), "--data.batch_size", str(args.batch),
           "--train.epochs", str(args.epochs), "--train.threads", "1", "--dist.nproc", str(nproc),
           "--run.dir", str(folder), "--run.name", name, "--diagnose.preflight", "false",
           "--diagnose.monitor", "false", "--report.enabled", "false"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    rows = [json.loads(x) for x in (folder / name / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["samples_per_s"] for r in rows[1:])


def split_worker(args) -> None:
    """Inside a 2-process launch: per-step compute and gradient all-reduce times (rank 0 prints)."""
    import torch
    import torch.distributed as dist

    import netcoach
    from netcoach.models import build_model

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "model.width": str(args.width)})
    model = build_model(cfg.model, (1, 8, 8), 10)
    x, y = torch.randn(args.batch // 2, 1, 8, 8), torch.randint(0, 10, (args.batch // 2,))
    grads = torch.zeros(sum(p.numel() for p in model.parameters()))

    def compute():
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()

    def timed(fn, reps=args.reps) -> float:
        for _ in range(10):
            fn()
        dist.barrier()
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - start) / reps

    t_compute = timed(compute)
    t_comm = timed(lambda: dist.all_reduce(grads))
    if dist.get_rank() == 0:
        print(f"per step, 2 processes: compute {t_compute * 1e3:.3f} ms (forward+backward of "
              f"{args.batch // 2} samples), gradient all-reduce {t_comm * 1e3:.3f} ms "
              f"({grads.numel()} float32 = {grads.numel() * 4 / 1e6:.2f} MB); "
              f"communication share {t_comm / (t_compute + t_comm):.0%}", flush=True)
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--width", type=int, default=256, help="MLP hidden units (2 layers)")
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--reps", type=int, default=200, help="repetitions of the split measurement")
    parser.add_argument("--split-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.split_worker:
        split_worker(args)
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; MLP 2x{args.width} "
          f"on digits, global batch {args.batch}, 1 thread per process")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    split = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            "--nproc-per-node", "2", __file__, "--split-worker", "--width", str(args.width),
                            "--batch", str(args.batch), "--reps", str(args.reps)],
                           env=env, check=True, capture_output=True, text=True)
    print(split.stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        one = train_throughput(1, args, Path(tmp))
        two = train_throughput(2, args, Path(tmp))
    print(f"1 process : {one:10.0f} samples/s")
    print(f"2 processes: {two:10.0f} samples/s")
    print(f"ratio 2/1: {two / one:.2f}")


if __name__ == "__main__":
    main()
