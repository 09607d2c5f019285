"""Whole-split metrics with two processes: every rank's outputs are gathered, so val and
train AUC/F1 and the test metrics equal those of one process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.test_distributed_train import command, environment, launch, metrics, options

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="as test_distributed_train")


def test_two_processes_give_the_one_process_auc_and_threshold(tmp_path):
    extra = {"data.name": "breast_cancer", "task.name": "binary", "train.epochs": "2"}
    launch(options(tmp_path, "two", **extra))
    one = subprocess.run(command(options(tmp_path, "one", **extra)), env=environment(),
                         capture_output=True, text=True, timeout=180)
    assert one.returncode == 0, one.stderr[-3000:]
    keys = ("train_loss", "train_auc", "train_f1", "val_loss", "val_auc", "val_f1", "val_recall")
    two_rows, one_rows = metrics(tmp_path / "two"), metrics(tmp_path / "one")
    for a, b in zip(two_rows, one_rows):
        assert {k: a[k] for k in keys} == pytest.approx({k: b[k] for k in keys}, abs=1e-6)
    two, one_s = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("two", "one"))
    assert two["task"]["threshold"] == pytest.approx(one_s["task"]["threshold"], abs=1e-6)
    assert two["test"]["test_auc"] == pytest.approx(one_s["test"]["test_auc"], abs=1e-9)
