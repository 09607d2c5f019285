"""Shared fixtures: the real datasets beside the checkout, and small configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from helpers.runs import single_thread

# CI replays the same generated examples every run (a new failure shows up in a local run, not
# as a random red CI); locally each run draws new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Several workers on a small machine: one thread each avoids oversubscription.
    torch.set_num_threads(1)


@pytest.fixture
def shared_datasets() -> Path:
    """``../shared/datasets``; the test is skipped (with the reason) when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real datasets not found at {SHARED} (tests that need them are skipped)")
    return SHARED


@pytest.fixture
def quick_overrides(tmp_path) -> dict:
    """Overrides for a fast digits run writing into a temp folder."""
    return {"model.name": "mlp", "train.epochs": "3", "run.dir": str(tmp_path / "runs"),
            "diagnose.preflight": "false", "report.enabled": "false"}


@pytest.fixture
def one_thread():
    """One torch thread for the test (bit-exact CPU runs); the previous count afterwards."""
    with single_thread():
        yield
