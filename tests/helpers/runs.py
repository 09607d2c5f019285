"""Run-folder comparisons for the exact-resume tests, and one torch thread for exact runs."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

import torch
from safetensors.torch import load_file

WALL_TIMES = ("epoch_time", "samples_per_s")  # per-epoch fields that are clock readings


@contextmanager
def single_thread():
    """One torch thread inside the block (CPU runs are bit-reproducible only so)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def history(run: Path) -> list[dict]:
    """``metrics.jsonl`` without the wall-time fields."""
    rows = map(json.loads, (Path(run) / "metrics.jsonl").read_text().splitlines())
    return [{k: v for k, v in row.items() if k not in WALL_TIMES} for row in rows]


def assert_same_weights(a: Path, b: Path, names: Iterable[str], context: str = "") -> None:
    """``checkpoints/<name>.safetensors`` of runs ``a`` and ``b`` hold equal tensors."""
    for name in names:
        wa, wb = (load_file(str(Path(r) / "checkpoints" / f"{name}.safetensors")) for r in (a, b))
        assert wa.keys() == wb.keys(), f"{context}: {name} has other tensors"
        for key in wa:
            assert torch.equal(wa[key], wb[key]), f"{context}: {name}/{key} differs"


def comparable(run: Path) -> dict:
    """Everything of a run folder that must match exactly after a resume (times excluded)."""
    run = Path(run)
    summary = json.loads((run / "summary.json").read_text())
    return {"metrics": history(run), "steps": (run / "steps.jsonl").read_text(),
            "csv": [line.split(",")[:3] for line in (run / "metrics.csv").read_text().splitlines()],
            "test": summary["test"], "averages": summary["averages"],
            "monitors": (run / "monitors.jsonl").read_text(),  # every sampled statistic
            "data": (run / "data.json").read_text(), "model": (run / "model.json").read_text()}


def assert_same_run(a: Path, b: Path, context: str) -> None:
    """Runs ``a`` and ``b`` match in ``comparable`` and in the last, best and EMA weights."""
    assert comparable(a) == comparable(b), context
    assert_same_weights(a, b, ("last", "best", "ema"), context)


def train_small_member(parent: Path, seed: int) -> Path:
    """A two-epoch digits MLP run ``parent/s<seed>``: a cheap ensemble member (no preflight, no report)."""
    import netcoach

    over = {"model.name": "mlp", "model.width": "16", "train.epochs": "2", "optim.lr": "0.003",
            "run.dir": str(parent), "run.name": f"s{seed}", "train.seed": str(seed),
            "diagnose.preflight": "false", "report.enabled": "false"}
    return netcoach.train(netcoach.load_config(overrides=over), progress=False).run_dir
