"""Snapshot ensembles: the weights at the ends of the last K learning-rate cycles, their
ensemble scored at the end of training, and snapshots that survive a SIGKILL + resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import netcoach
from netcoach.config import ConfigError, ScheduleConfig
from netcoach.data import build_data
from netcoach.data.loader import DeviceLoader
from netcoach.ensemble.snapshots import cycle_ends

from helpers.kill import run_killed
from helpers.runs import assert_same_weights, single_thread

STEPS_PER_EPOCH = 17  # digits train split (1077 samples) / batch 64


def overrides(parent: Path, name: str, **extra) -> dict:
    return {"model.name": "mlp", "model.width": "32", "train.epochs": "4", "optim.lr": "0.01",
            "schedule.name": "cosine_restarts", "schedule.t0_epochs": "1", "ensemble.snapshots": "3",
            "checkpoint.every_steps": "5", "run.dir": str(parent), "run.name": name,
            "diagnose.preflight": "false", "report.enabled": "false", **extra}


def test_cycle_ends_follow_sgdr_and_the_triangular_cycle():
    sgdr = ScheduleConfig(name="cosine_restarts", t0_epochs=2, t_mult=2)
    assert cycle_ends(sgdr, epochs=14, per_epoch=10) == [20, 60, 140]  # T_0 = 20, then 40, 80
    assert cycle_ends(ScheduleConfig(name="cosine_restarts", t0_epochs=1), 3, 5) == [5, 10, 15]
    tri = ScheduleConfig(name="cyclic", half_cycle_epochs=1.5)
    assert cycle_ends(tri, epochs=7, per_epoch=10) == [30, 60]  # H = 15 steps, back at the bottom every 2H
    assert cycle_ends(ScheduleConfig(name="step"), 10, 10) == []


def test_snapshots_need_enough_cycles_of_a_cyclic_schedule_and_leave_no_folder(tmp_path):
    bad = overrides(tmp_path, "r", **{"schedule.name": "step"})
    with pytest.raises(ConfigError, match="ensemble.snapshots: needs a cyclic learning rate .* got schedule.name step"):
        netcoach.train(netcoach.load_config(overrides=bad), progress=False)
    few = overrides(tmp_path, "r", **{"schedule.t0_epochs": "2"})
    with pytest.raises(ConfigError, match="3 snapshots need 3 complete cycles, but schedule cosine_restarts completes 2"):
        netcoach.train(netcoach.load_config(overrides=few), progress=False)
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="ensemble.snapshots: must be 0 .* or >= 2, got 1"):
        netcoach.load_config(overrides={"ensemble.snapshots": "1"})


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("snap")
    with single_thread():
        netcoach.train(netcoach.load_config(overrides=overrides(folder, "ref", **{"report.enabled": "true"})),
                       progress=False)
    return folder / "ref"


def _probs(run: Path, weights: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax outputs of ``weights`` on the run's test split, rebuilt independently."""
    config, model = netcoach.load_run(run, which="last")
    model.load_state_dict(weights)
    record = json.loads((run / "data.json").read_text())
    bundle = build_data(config, torch.device("cpu"))
    loader = DeviceLoader(bundle.test, 1024, scale=record["scale"], mean=record["mean"], std=record["std"])
    with torch.no_grad():
        return torch.cat([model(x).softmax(1) for x, _ in loader]).double(), bundle.test.y


def test_snapshots_are_kept_at_cycle_ends_and_their_ensemble_is_scored(reference):
    ck = reference / "checkpoints"
    assert sorted(p.name for p in ck.glob("snapshot-*.safetensors")) == [
        "snapshot-2.safetensors", "snapshot-3.safetensors", "snapshot-4.safetensors"]
    last, snap4 = load_file(str(ck / "last.safetensors")), load_file(str(ck / "snapshot-4.safetensors"))
    assert all(torch.equal(last[k], snap4[k]) for k in last)  # the last cycle ends with the run
    summary = json.loads((reference / "summary.json").read_text())["snapshots"]
    assert [(m["index"], m["step"]) for m in summary["members"]] == [(2, 34), (3, 51), (4, 68)]
    probs = [_probs(reference, load_file(str(ck / f"snapshot-{c}.safetensors"))) for c in (2, 3, 4)]
    labels = probs[0][1]
    mean = sum(p for p, _ in probs) / 3
    assert summary["ensemble"]["test_acc"] == pytest.approx((mean.argmax(1) == labels).double().mean().item())
    for member, (p, _) in zip(summary["members"], probs):
        assert member["test"]["test_acc"] == pytest.approx((p.argmax(1) == labels).double().mean().item())
    final = _probs(reference, last)[0]
    assert summary["final"]["test_acc"] == pytest.approx((final.argmax(1) == labels).double().mean().item())
    html = (reference / "report.html").read_text()
    assert "Snapshot ensemble" in html and "final weights alone" in html


@pytest.mark.parametrize("kill_batch", [34, 45])  # right after snapshot 2 is written; between snapshots
def test_snapshots_survive_sigkill_and_resume_exactly(tmp_path, reference, kill_batch, one_thread):
    run_killed(overrides(tmp_path, "killed"), kill_batch=kill_batch)
    killed = tmp_path / "killed"
    netcoach.train(resume=killed, progress=False)
    ref = json.loads((reference / "summary.json").read_text())["snapshots"]
    assert json.loads((killed / "summary.json").read_text())["snapshots"] == ref
    assert_same_weights(reference, killed, [f"snapshot-{c}" for c in (2, 3, 4)], f"a kill at batch {kill_batch}")
