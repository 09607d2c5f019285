"""``--ensemble.members K``: K seeds of one config (a repeat group), then their ensemble."""

from __future__ import annotations

import json

import pytest

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError
from netcoach.ensemble.seeds import train_members
from netcoach.train.run import RunExistsError


def _overrides(tmp_path, **extra) -> dict:
    return {"model.name": "mlp", "model.width": "16", "train.epochs": "1", "train.seed": "5",
            "run.dir": str(tmp_path), "run.name": "grp", "diagnose.preflight": "false",
            "report.enabled": "false", **extra}


def test_members_get_consecutive_seeds_and_their_ensemble_is_built_beside_the_group(tmp_path):
    config = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "3"}))
    result = train_members(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grp", "grp-ensemble"]
    assert sorted(p.name for p in (tmp_path / "grp").iterdir()) == ["group.json", "group.md", "seed-5", "seed-6", "seed-7"]
    for run, seed in zip(result.group.run_dirs, (5, 6, 7)):
        saved = netcoach.load_config(run / "config.toml")
        assert saved.train.seed == seed and saved.ensemble.members == 1  # each member is one plain run
    summary = json.loads((tmp_path / "grp-ensemble" / "summary.json").read_text())
    assert [m["seed"] for m in summary["members"]] == [5, 6, 7]
    assert summary["ensemble"] == result.ensemble.summary["ensemble"]
    accs = [m["test"]["test_acc"] for m in summary["members"]]
    assert result.group.values["test_acc"] == pytest.approx(accs)  # the group's numbers are the members'


def test_taken_names_are_refused_before_anything_is_trained(tmp_path):
    config = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "2"}))
    (tmp_path / "grp-ensemble").mkdir()
    with pytest.raises(RunExistsError, match="grp-ensemble already exists"):
        train_members(config)
    (tmp_path / "grp-ensemble").rmdir()
    (tmp_path / "grp").mkdir()
    with pytest.raises(RunExistsError, match="grp already exists"):
        train_members(config)
    assert [p.name for p in tmp_path.iterdir()] == ["grp"] and not any((tmp_path / "grp").iterdir())


def test_train_points_to_train_members_and_one_process_is_required(tmp_path):
    config = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "2"}))
    with pytest.raises(ConfigError, match="ensemble.members: 2 .* netcoach.ensemble.seeds.train_members"):
        netcoach.train(config, progress=False)
    several = netcoach.load_config(overrides=_overrides(tmp_path, **{"ensemble.members": "2", "dist.nproc": "2"}))
    with pytest.raises(ConfigError, match="--dist.nproc 2: repeat trains each run in one process"):
        train_members(several)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="ensemble.members: must be >= 1, got 0"):
        netcoach.load_config(overrides={"ensemble.members": "0"})


def test_cli_trains_members_and_prints_the_ensemble_last(tmp_path, capsys):
    args = [f"--{k}={v}" for k, v in _overrides(tmp_path, **{"ensemble.members": "2"}).items()]
    assert main(["train", "--quiet", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("\nbest epoch ") + out.startswith("best epoch ") == 2 and "ensemble of 2: test_acc" in out
    assert out.strip().splitlines()[-1].endswith("grp-ensemble")
