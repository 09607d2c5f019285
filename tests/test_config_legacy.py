"""Run folders written before ``early_stop.mode = "auto"`` replaced ``""`` still load,
resume and predict; a new config with ``""`` is refused with the current spelling."""

from __future__ import annotations

import pytest
import torch

import netcoach
from netcoach.config import ConfigError, load_toml
from netcoach.config.legacy import upgrade_saved
from netcoach.data import build_data
from netcoach.predict import predict
from netcoach.train.resume import resume_config

OLD = {"model.name": "mlp", "model.width": "16", "train.epochs": "2", "train.monitor": "val_acc",
       "train.mode": "max", "early_stop.enabled": "true", "early_stop.patience": "3",
       "diagnose.preflight": "false", "report.enabled": "false"}


def make_old(run) -> None:
    """Spell the run's early_stop.mode as netcoach wrote it before ``auto`` existed."""
    path = run / "config.toml"
    text = path.read_text()
    section = text.index("[early_stop]")
    at = text.index('mode = "auto"', section)
    path.write_text(text[:at] + 'mode = ""' + text[at + len('mode = "auto"'):])


@pytest.fixture
def old_run(tmp_path):
    netcoach.train(netcoach.load_config(overrides={**OLD, "run.dir": str(tmp_path), "run.name": "old"}),
                   progress=False)
    run = tmp_path / "old"
    make_old(run)
    assert '[early_stop]\nenabled = true\nmonitor = ""\nmode = ""' in (run / "config.toml").read_text()
    return run


def test_old_early_stop_mode_loads_resumes_and_predicts_as_auto(old_run):
    config, model = netcoach.load_run(old_run)
    assert config.early_stop.mode == "auto"
    bundle = build_data(config, torch.device("cpu"))
    probs = predict(old_run, bundle.test.x[:5])
    assert probs.shape == (5, 10) and torch.allclose(probs.sum(1), torch.ones(5))
    longer = resume_config(old_run, overrides={"train.epochs": "3"})
    result = netcoach.train(longer, resume=old_run, progress=False)
    assert len(result.history) == 3
    assert 'mode = "auto"' in (old_run / "config.toml").read_text().split("[early_stop]")[1].split("[")[0]


def test_old_empty_mode_keeps_its_meaning_when_early_stop_watched_another_metric():
    data = {"train": {"monitor": "val_acc", "mode": "max"}, "early_stop": {"monitor": "val_loss", "mode": ""}}
    assert upgrade_saved(data)["early_stop"]["mode"] == "max"  # "" meant train.mode
    assert data["early_stop"]["mode"] == ""                     # the input is left as it was
    same = {"train": {"monitor": "val_acc", "mode": "max"}, "early_stop": {"monitor": "val_acc", "mode": ""}}
    assert upgrade_saved(same)["early_stop"]["mode"] == "auto"


def test_a_new_config_with_the_old_spelling_is_refused_naming_the_new_one(old_run):
    with pytest.raises(ConfigError, match=r"early_stop.mode: '' is not valid; choose one of: auto, min, max "
                                          r"\('' is the old spelling of 'auto'"):
        netcoach.load_config(overrides={"early_stop.mode": ""})
    with pytest.raises(ConfigError, match=r"config.toml: early_stop.mode: '' is not valid.*old spelling of 'auto'"):
        load_toml(old_run / "config.toml")  # as a user's --config file, not a run record
    with pytest.raises(ConfigError, match="early_stop.mode: 'maximum' is not valid; choose one of: auto, min, max$"):
        netcoach.load_config(overrides={"early_stop.mode": "maximum"})
