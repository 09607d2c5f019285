"""Fixed cost per run: whole processes, netcoach vs plain PyTorch.

1. ``netcoach train`` with its defaults (preflight, monitors, run folder, report) for one
   epoch of the default MLP on MNIST ÷ a plain script that reads the same IDX files and
   trains the same MLP (2x128, Adam 1e-3, batch 64) for one epoch and prints its test
   accuracy (goal <= 1.3).
2. ``python -c "import netcoach"`` ÷ ``python -c "import torch"`` (goal <= 1.2).

Each pair runs back to back in alternating order; a ratio is the median over rounds of
the rounds' ratios. Time is the children's CPU time (user + system, from
``resource.getrusage``) by default, which other jobs on the machine do not inflate;
``--clock wall`` uses the wall clock. Both processes get one torch thread.

The report is built inside the measured ``netcoach train`` process, after training, so
its cost is part of the ratio. ``--timeline`` also runs ``netcoach train`` once more in a
child that records the CPU seconds of each phase (imports, data loading, the rest of
building the trainer, preflight, training, test evaluation, doctor, report), to show where
the fixed cost goes, and times ``netcoach report RUN`` as a process of its own: what a
report rendered by a detached process would cost instead (a fresh interpreter imports
torch and matplotlib again), which is why the report is not moved out of the run.
The load average is printed first: other jobs inflate even CPU time somewhat.

Run: ``PYTHONPATH=. python bench/run_overhead.py [--rounds 3] [--data ../shared/datasets/mnist] [--timeline]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAIN = r"""
import gzip, sys
import numpy as np, torch
import torch.nn.functional as F
from torch import nn
torch.set_num_threads(1)
torch.manual_seed(0)
root = sys.argv[1]
def idx(name):
    data = gzip.open(f"{root}/{name}.gz").read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape).copy())
xtr = idx("train-images-idx3-ubyte").float().div(255).sub(0.1307).div(0.3081).flatten(1)
ytr = idx("train-labels-idx1-ubyte").long()
xte = idx("t10k-images-idx3-ubyte").float().div(255).sub(0.1307).div(0.3081).flatten(1)
yte = idx("t10k-labels-idx1-ubyte").long()
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for idx_ in torch.randperm(len(ytr)).split(64):
    loss = F.cross_entropy(model(xtr[idx_]), ytr[idx_])
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    print("test acc", (model(xte).argmax(1) == yte).float().mean().item())
"""


TIMELINE = r"""
import functools, sys, time
t0 = time.process_time()
import torch
t_torch = time.process_time()
import netcoach
from netcoach import api, diagnose
from netcoach.api import data_setup, summary
from netcoach.cli import main
import netcoach.report as report
t_import = time.process_time()
spent = {}
def wrap(owner, name, label):
    real = getattr(owner, name)
    @functools.wraps(real)
    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - start
    setattr(owner, name, timed)
# each function is wrapped in the module that looks it up when a run calls it
for owner, name, label in [(data_setup, "build_bundle", "data loading"), (api, "build_trainer", "build_trainer"),
                           (diagnose, "preflight", "preflight"), (api, "open_run", "run folder"),
                           (api.Trainer, "fit", "training"), (summary, "summarize", "test evaluation"),
                           (diagnose, "doctor", "doctor"), (report, "write_report", "report")]:
    wrap(owner, name, label)
start = time.process_time()
main(sys.argv[1:])
total = time.process_time() - t0
spent["build_trainer"] -= spent.get("data loading", 0.0)
phases = {"import torch": t_torch - t0, "import netcoach": t_import - t_torch, **spent}
phases["rest"] = total - sum(phases.values())
print("  ".join(f"{k} {v:.2f}" for k, v in phases.items()) + f"  = {total:.2f} s")
"""


def timed(cmd: list[str], clock: str, env: dict) -> float:
    """Seconds one child process took (its CPU time, or the wall clock)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed:\n{proc.stderr[-2000:]}")
    if clock == "wall":
        return time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def paired(name: str, ours: list[str], base: list[str], rounds: int, clock: str, env: dict) -> float:
    a, b = [], []
    for r in range(rounds):
        jobs = [lambda: a.append(timed(ours, clock, env)), lambda: b.append(timed(base, clock, env))]
        for job in (jobs if r % 2 == 0 else jobs[::-1]):
            job()
    ratio = statistics.median(x / y for x, y in zip(a, b))
    print(f"{name:34s} netcoach {statistics.median(a):6.2f} s  baseline {statistics.median(b):6.2f} s  "
          f"ratio {ratio:.3f}  (median of {rounds} paired rounds)")
    return ratio


def timeline(py: str, train: list[str], env: dict) -> None:
    """CPU seconds per phase of one ``netcoach train``, then of ``netcoach report`` alone."""
    proc = subprocess.run([py, "-c", TIMELINE, *train[3:]], env=env, capture_output=True, text=True)
    print(f"timeline (CPU s): {proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else proc.stderr[-500:]}")
    runs = sorted(p for p in Path(train[train.index("--run.dir") + 1]).iterdir() if p.is_dir())
    seconds = timed([py, "-m", "netcoach", "report", str(runs[-1])], "process", env)
    print(f"netcoach report RUN as a process of its own (a detached report's cost): {seconds:.2f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clock", choices=("process", "wall"), default="process")
    parser.add_argument("--data", default=None, help="MNIST folder (default: ../shared/datasets/mnist)")
    parser.add_argument("--timeline", action="store_true", help="also print CPU seconds per phase of one run")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # Both sides import compiled bytecode, as an installed package does (pip compiles
    # torch's at install time): without this, a shell with PYTHONDONTWRITEBYTECODE set
    # makes every child compile netcoach's ~160 modules from source (0.1 s measured).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    subprocess.run([py, "-c", "import netcoach"], env=env, check=True)  # writes the bytecode cache
    print(f"{args.clock} time of whole processes, one torch thread each; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    imports = paired("import netcoach / import torch", [py, "-c", "import netcoach"],
                     [py, "-c", "import torch"], args.rounds, args.clock, env)
    candidates = [Path(args.data)] if args.data else [p / "shared" / "datasets" / "mnist"
                                                      for p in (ROOT.parent, ROOT.parents[1])]
    found = [p for p in candidates if p.is_dir()]
    if not found:
        print("run overhead skipped: no MNIST folder (pass --data)")
        print(f"ratio (import netcoach / import torch): {imports:.3f}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        train = [py, "-m", "netcoach", "train", "--quiet", "--data.name", "mnist", "--data.path", str(found[0]),
                 "--model.name", "mlp", "--train.epochs", "1", "--train.threads", "1", "--run.dir", tmp]
        run = paired("netcoach train (1 epoch MLP, MNIST)", train, [py, "-c", PLAIN, str(found[0])],
                     args.rounds, args.clock, env)
        if args.timeline:
            timeline(py, train, env)
    print(f"ratios: import netcoach / import torch {imports:.3f};  "
          f"netcoach train / plain script {run:.3f}")


if __name__ == "__main__":
    main()
