import pytest

from netcoach.cli import main
from netcoach.config import Config, ConfigError, apply_overrides, from_dict, load_toml, option_keys, to_toml


def test_config_roundtrips_through_toml(tmp_path):
    # floats, lists, strings, booleans, a choice, and a None (written as a comment)
    cfg = apply_overrides(Config(), {"optim.lr": "0.05", "optim.betas": "0.8,0.99", "run.name": "x",
                                     "augment.transforms": "hflip,crop,cutmix", "augment.crop_fill": "reflect",
                                     "augment.tta": "true", "loss.label_smoothing": "0.1",
                                     "regularize.max_norm": "none"})
    assert cfg != Config() and cfg.regularize.max_norm is None
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert load_toml(path) == cfg


def test_every_option_has_a_train_flag_with_its_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # help text is wrapped; compare unwrapped
    for key, (_, field) in option_keys().items():
        assert f"--{key}" in out, key
        assert " ".join(field.metadata["help"].split())[:40] in out, key


def test_override_types_are_checked():
    cfg = apply_overrides(Config(), {"train.epochs": "7", "data.cache": "false", "optim.lr": "1e-2"})
    assert cfg.train.epochs == 7 and cfg.data.cache is False and cfg.optim.lr == 0.01
    with pytest.raises(ConfigError, match=r"train.epochs: expected an integer, got 'ten'"):
        apply_overrides(Config(), {"train.epochs": "ten"})
    with pytest.raises(ConfigError, match="expected true or false"):
        apply_overrides(Config(), {"data.cache": "maybe"})


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        apply_overrides(Config(), {"optim.lrr": "0.1"})
    assert "--optim.lrr" in str(err.value) and "--optim.lr" in str(err.value)
    with pytest.raises(ConfigError, match="unknown config section 'optimm'"):
        from_dict({"optimm": {"lr": 1}})


def test_toml_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochs = 'ten'\n")
    with pytest.raises(ConfigError, match=r"bad.toml: train.epochs: expected int"):
        load_toml(bad)
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(bad)
    with pytest.raises(ConfigError, match="choose one of: auto, min, max"):
        from_dict({"train": {"mode": "up"}})
