"""``--ensemble.members K``: K seeds of one config trained one after another, then their ensemble."""

from __future__ import annotations

import json

import pytest

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError
from netcoach.train.run import RunExistsError


def _overrides(tmp_path, **extra) -> dict:
    return {"model.name": "mlp", "model.width": "16", "train.epochs": "1", "train.seed": "5",
            "run.dir": str(tmp_path), "run.name": "grp", "diagnose.preflight": "false",
            "report.enabled": "false", **extra}


def test_members_get_consecutive_seeds_and_their_ensemble_is_built(tmp_path):
    config = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "3"}))
    result = netcoach.train_members(config, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grp-ensemble", "grp-seed5", "grp-seed6", "grp-seed7"]
    for member, seed in zip(result.members, (5, 6, 7)):
        saved = netcoach.load_config(member.run_dir / "config.toml")
        assert saved.train.seed == seed and saved.ensemble.members == 1  # each member is one plain run
    summary = json.loads((tmp_path / "grp-ensemble" / "summary.json").read_text())
    assert [m["seed"] for m in summary["members"]] == [5, 6, 7]
    assert summary["ensemble"] == result.ensemble.summary["ensemble"]


def test_taken_names_are_refused_before_anything_is_trained(tmp_path):
    (tmp_path / "grp-seed6").mkdir()
    config = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "2"}))
    with pytest.raises(RunExistsError, match="grp-seed6 already exists"):
        netcoach.train_members(config, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["grp-seed6"]


def test_train_asks_for_train_members_when_several_are_configured(tmp_path):
    config = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "2"}))
    with pytest.raises(ConfigError, match="ensemble.members: 2 .* netcoach.train_members"):
        netcoach.train(config, progress=False)
    several = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "2", "dist.nproc": "2"}))
    with pytest.raises(ConfigError, match="ensemble.members: the members train one after another .* dist.nproc 1"):
        netcoach.train_members(several, progress=False)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="ensemble.members: must be >= 1, got 0"):
        netcoach.load_config(overrides={"ensemble.members": "0"})


def test_cli_trains_members_and_prints_the_ensemble_last(tmp_path, capsys):
    args = [f"--{k}={v}" for k, v in _overrides(tmp_path, **{"ensemble.members": "2"}).items()]
    assert main(["train", "--quiet", *args]) == 0
    out = capsys.readouterr().out
    assert "ensemble of 2: test_acc" in out and out.strip().splitlines()[-1].endswith("grp-ensemble")
