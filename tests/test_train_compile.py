"""train.compile: the forward pass through torch.compile (inductor, which builds C++ on the
CPU) trains what the eager run trains, and the run folder keeps the plain module's weights."""

from __future__ import annotations

import shutil

import pytest
import torch

import netcoach
from netcoach.train.checkpoint import load_weights

pytestmark = pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                                reason="torch.compile's CPU backend needs a C++ compiler")


def test_a_compiled_run_trains_as_the_eager_one_and_saves_and_reloads_plain_weights(quick_overrides, one_thread):
    over = {**quick_overrides, "train.epochs": "2", "diagnose.monitor": "false"}
    eager = netcoach.train(netcoach.load_config(overrides={**over, "run.name": "eager"}))
    compiled = netcoach.train(netcoach.load_config(overrides={**over, "run.name": "compiled",
                                                              "train.compile": "true"}))
    # the same steps: only the kernels' float rounding may differ
    for key in ("test_loss", "test_acc"):
        assert compiled.summary["test"][key] == pytest.approx(eager.summary["test"][key], rel=1e-4, abs=1e-6)
    weights = load_weights(compiled.run_dir / "checkpoints" / "best.safetensors")
    assert sorted(weights) == sorted(eager.model.state_dict())  # no torch.compile wrapper prefix
    _, model = netcoach.load_run(compiled.run_dir)
    x = compiled.data.test.x[:8].float()
    assert torch.equal(model(x), compiled.model(x))
