"""Bad config values: a one-line error naming the key, exit status 2, and no run folder.

Every value is checked once, where every value passes through (``config/loader.py``,
against the bounds and choices declared in ``config/schema/``); the checks that need
the data run in ``build_trainer``, before ``open_run`` creates the folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netcoach
from netcoach.cli import main
from netcoach.config import Config, ConfigError, NetcoachError, load_toml
from netcoach.config.loader import validate
from netcoach.data.errors import DataError
from netcoach.train.checkpoint import CheckpointError


def cli(tmp_path: Path, *flags: str) -> list[str]:
    return ["train", "--model.name", "mlp", "--model.width", "16", "--train.epochs", "1",
            "--run.dir", str(tmp_path / "runs"), "--run.name", "r", "--report.enabled", "false",
            "--quiet", "--train.threads", "1", "--diagnose.preflight", "false", *flags]


def assert_refused(tmp_path: Path, capsys, flags: tuple[str, ...], *needles: str) -> str:
    assert main(cli(tmp_path, *flags)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    assert not (tmp_path / "runs" / "r").exists(), "a refused config left a run folder"
    return err


@pytest.mark.parametrize("flags, needle", [
    (("--checkpoint.every_steps", "-1"), "checkpoint.every_steps: must be >= 0, got -1"),
    (("--checkpoint.every_epochs", "-2"), "checkpoint.every_epochs: must be >= 0, got -2"),
    (("--diagnose.checks", "foo"), "diagnose.checks[0]: unknown 'foo'; valid: output_layer"),
    (("--early_stop.enabled", "true", "--early_stop.patience", "-1"), "early_stop.patience: must be >= 0"),
    (("--average.ema", "true", "--average.ema_decay", "2"), "average.ema_decay: must be > 0 and < 1, got 2.0"),
    (("--diagnose.preflight", "true", "--diagnose.overfit_size", "0"), "diagnose.overfit_size: must be >= 1"),
    (("--diagnose.preflight", "true", "--diagnose.batch_size", "0"), "diagnose.batch_size: must be >= 1"),
    (("--model.width", "0"), "model.width: must be >= 1 and <= "),
    (("--model.width", "-3"), "model.width: must be >= 1"),
    (("--model.width", "100000000"), "model.width: must be >= 1 and <= "),
    (("--data.batch_size", "0"), "data.batch_size: must be >= 1"),
    (("--data.val_fraction", "0"), "data.val_fraction: must be > 0 and < 1, got 0.0; the validation split "
                                   "picks the best epoch"),
    (("--optim.lr", "inf"), "optim.lr: expected a finite number"),
    (("--run.name", "../x"), "run.name: '../x' must be a plain folder name"),
    (("--run.name", "ABS"), "must be a plain folder name"),  # ABS: an absolute path in tmp_path
    (("--data.val_fraction", "0.9", "--data.test_fraction", "0.2"),
     "data.val_fraction + data.test_fraction = 0.9 + 0.2 = 1.1 >= 1"),
])
def test_bad_value_is_refused_before_the_run_folder_exists(tmp_path, capsys, flags, needle):
    flags = tuple(str(tmp_path / "abs") if f == "ABS" else f for f in flags)
    assert_refused(tmp_path, capsys, flags, needle)
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs").exists()


def test_unknown_monitor_with_explicit_mode_is_refused_before_the_first_epoch(tmp_path, capsys):
    assert_refused(tmp_path, capsys, ("--train.monitor", "foo", "--train.mode", "max"),
                   "train.monitor: 'foo' is not", "val_acc")


def test_huge_model_is_refused_with_its_size_before_allocating(tmp_path, capsys):
    assert_refused(tmp_path, capsys, ("--model.depth", "64", "--model.width", "16384"),
                   "model: ", "parameters", "GB")


def test_config_pointing_at_a_folder_names_it(tmp_path, capsys):
    assert_refused(tmp_path, capsys, ("--config", str(tmp_path)), f"{tmp_path}: is a folder, not a TOML")


def test_binary_toml_is_reported_with_its_file_name(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    assert_refused(tmp_path, capsys, ("--config", str(bad)), f"{bad}: not a UTF-8 text file")


def test_toml_nan_is_refused_with_the_file_name(tmp_path):
    cfg = tmp_path / "nan.toml"
    cfg.write_text("[optim]\nlr = nan\n")
    with pytest.raises(ConfigError, match=r"nan.toml: optim.lr: expected a finite number"):
        load_toml(cfg)


def test_configs_built_in_python_are_checked_by_build_trainer():
    from netcoach.config import DiagnoseConfig

    with pytest.raises(ConfigError, match="diagnose.overfit_size: must be >= 1"):
        validate(Config(diagnose=DiagnoseConfig(overfit_size=0)))
    with pytest.raises(ConfigError, match="diagnose.overfit_size"):
        netcoach.build_trainer(Config(diagnose=DiagnoseConfig(overfit_size=0)))


def test_user_errors_share_one_base():
    for cls in (ConfigError, DataError, CheckpointError):
        assert issubclass(cls, NetcoachError)


@pytest.mark.parametrize("preflight", [True, False])
def test_label_past_a_custom_models_outputs_is_refused_before_the_run_folder(tmp_path, preflight):
    from torch import nn

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 7))  # digits has 10 classes
    cfg = netcoach.load_config(overrides={"train.epochs": "1", "run.dir": str(tmp_path / "runs"),
                                          "run.name": "r", "diagnose.preflight": str(preflight).lower()})
    with pytest.raises(NetcoachError, match=r"outputs of shape \(1, 7\).*needs \(1, 10\).*labels 0\.\.9"):
        netcoach.train(cfg, model=model, progress=False)
    assert not (tmp_path / "runs" / "r").exists()
