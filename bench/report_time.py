"""Report generation time vs training time for a 20-epoch digits run.

Trains the default digits CNN for 20 epochs with the report switched off, then
builds its report twice in the same process: the first build includes importing
matplotlib (what ``netcoach train`` pays), the second is the warm cost (what
``netcoach report`` pays per run when rebuilding many). The goal: under 10% of
the training time. Run: ``PYTHONPATH=. python bench/report_time.py [epochs]``.
"""

from __future__ import annotations

import sys
import tempfile
import time

import torch


def timed(fn, *args):
    """((wall seconds, result), process CPU seconds) of ``fn(*args)``; CPU time is less
    distorted than wall time on a machine shared with other jobs."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return (time.perf_counter() - wall, out), time.process_time() - cpu


def _import_matplotlib() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def main(epochs: int = 20) -> None:
    torch.set_num_threads(1)
    import netcoach
    from netcoach.report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        cfg = netcoach.load_config(overrides={"train.epochs": str(epochs), "run.dir": tmp,
                                              "run.name": "digits", "report.enabled": "false"})
        train_s, train_cpu = timed(netcoach.train, cfg)
        result = train_s[1]
        (import_s, _), import_cpu = timed(_import_matplotlib)
        (cold_s, _), cold_cpu = timed(write_report, result.run_dir)
        cold_s, cold_cpu = cold_s + import_s, cold_cpu + import_cpu
        (warm_s, _), warm_cpu = timed(write_report, result.run_dir)
        train_s = train_s[0]
    print(f"digits cnn, {epochs} epochs: test_acc {result.summary['test']['test_acc']:.4f}")
    print(f"training (train()):               wall {train_s:7.3f} s  cpu {train_cpu:7.3f} s")
    print(f"report, first build (+matplotlib): wall {cold_s:7.3f} s  cpu {cold_cpu:7.3f} s")
    print(f"  of which importing matplotlib:   wall {import_s:7.3f} s  cpu {import_cpu:7.3f} s")
    print(f"report, rebuild (warm):            wall {warm_s:7.3f} s  cpu {warm_cpu:7.3f} s")
    print(f"ratio report/training: first build wall {cold_s / train_s:.1%} cpu "
          f"{cold_cpu / train_cpu:.1%}; rebuild wall {warm_s / train_s:.1%} cpu {warm_cpu / train_cpu:.1%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
