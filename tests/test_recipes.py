"""Recipes: shipped presets, --recipe, a known dataset's fast recipe by default, and the
airbench network's patch-whitening layer."""

from __future__ import annotations

import pytest
import torch

import netcoach.recipes as recipes_module
from netcoach.cli import build_parser, main
from netcoach.cli.options import chosen_recipe, config_from_args
from netcoach.config import Config, ConfigError, ModelConfig
from netcoach.models import build_model
from netcoach.models.airbench import PatchWhitening
from netcoach.recipes import Recipe, _parse, default_recipe, get_recipe, recipes


def parsed(*argv: str):
    args, extra = build_parser().parse_known_args(["train", *argv])
    assert not extra
    return args


@pytest.mark.parametrize("name", sorted(recipes()))
def test_every_shipped_recipe_is_a_valid_config_with_its_record(name):
    recipe = get_recipe(name)
    config = recipe.config()
    assert isinstance(config, Config) and config != Config()
    assert recipe.summary and recipe.result and recipe.techniques and recipe.command.startswith("netcoach")
    assert config.data.name == recipe.dataset or recipe.dataset in recipe.command


def test_each_dataset_has_at_most_one_default_recipe():
    defaults = [r.dataset for r in recipes().values() if r.default]
    assert len(defaults) == len(set(defaults))
    assert default_recipe("mnist").name == "mnist-fast"
    assert default_recipe("cifar10").name == "cifar10-fast"
    assert default_recipe("digits") is None  # `make demo` keeps the plain defaults


def test_a_known_dataset_without_a_model_gets_its_fast_recipe():
    args = parsed("--data.name", "mnist")
    recipe, picked = chosen_recipe(args)
    assert (recipe.name, picked) == ("mnist-fast", True)
    config = config_from_args(args)
    assert config == get_recipe("mnist-fast").config()


def test_an_explicit_model_overrides_the_dataset_recipe():
    args = parsed("--data.name", "mnist", "--model.name", "mlp")
    assert chosen_recipe(args) == (None, False)
    config = config_from_args(args)
    assert config.model.name == "mlp" and config.optim == Config().optim and config.train.epochs == 30


def test_a_config_file_also_opts_out_of_the_dataset_recipe(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[train]\nepochs = 3\n')
    args = parsed("--config", str(path), "--data.name", "mnist")
    assert chosen_recipe(args) == (None, False)
    assert config_from_args(args).model == Config().model


def test_flags_go_on_top_of_a_named_recipe():
    config = config_from_args(parsed("--recipe", "mnist-fast", "--train.epochs", "5", "--model.name", "mlp"))
    base = get_recipe("mnist-fast").config()
    assert config.train.epochs == 5 and config.model.name == "mlp"
    assert config.optim == base.optim and config.schedule == base.schedule


def test_an_unknown_recipe_names_the_valid_ones(capsys):
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; valid: .*mnist-fast"):
        get_recipe("nope")
    assert main(["train", "--recipe", "nope"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def test_a_recipe_file_with_a_bad_key_names_the_file_and_key(tmp_path):
    meta = ('[recipe]\nsummary = "s"\ndataset = "digits"\ndefault = false\nresult = "r"\n'
            'measured_on = "m"\ntechniques = ["t"]\ncommand = "netcoach train"\n')
    good = tmp_path / "ok.toml"
    good.write_text(meta + "[model]\nname = \"mlp\"\n")
    assert _parse(good).config().model.name == "mlp"
    bad = tmp_path / "bad.toml"
    bad.write_text(meta + "[model]\nwidht = 3\n")
    with pytest.raises(ConfigError, match="recipe bad: unknown key 'model.widht'"):
        _parse(bad)
    missing = tmp_path / "missing.toml"
    missing.write_text("[model]\nname = \"mlp\"\n")
    with pytest.raises(ConfigError, match=r"missing.toml: a recipe file needs a \[recipe\] table"):
        _parse(missing)


def test_recipes_command_lists_result_and_techniques(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for recipe in recipes().values():
        assert recipe.name in out and recipe.result in out and ", ".join(recipe.techniques) in out
    assert main(["recipes", "mnist-fast"]) == 0
    assert 'name = "cnn"' in capsys.readouterr().out  # the full settings of one recipe


def test_train_says_which_recipe_the_dataset_picked(tmp_path, capsys, monkeypatch):
    quick = Recipe("digits-quick", "a quick digits preset", "digits", True, "r", "m", ("t",), "netcoach train",
                   {"model": {"name": "mlp", "width": 16}, "train": {"epochs": 1},
                    "diagnose": {"preflight": False}, "report": {"enabled": False}})
    monkeypatch.setattr(recipes_module, "recipes", lambda: {"digits-quick": quick})
    code = main(["train", "--quiet", "--data.name", "digits", "--run.dir", str(tmp_path),
                 "--run.name", "r"])
    assert code == 0
    out = capsys.readouterr().out
    assert "recipe: digits-quick (the fast recipe for digits; give --model.name" in out
    assert 'name = "mlp"' in (tmp_path / "r" / "config.toml").read_text()


def test_patch_whitening_makes_the_patch_covariance_the_identity():
    gen = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.0, 0.0, 1.0]])
    x = torch.einsum("dc,nchw->ndhw", mix, torch.randn(256, 3, 16, 16, generator=gen))  # correlated channels
    layer = PatchWhitening(3, eps=0.0)
    layer.train()
    layer(x)
    assert bool(layer.ready) and layer.out_channels == 24
    out = torch.nn.functional.conv2d(x, layer.weight[:12]).permute(1, 0, 2, 3).reshape(12, -1)
    assert torch.allclose(torch.cov(out.double()), torch.eye(12, dtype=torch.double), atol=1e-3)
    assert torch.equal(layer.weight[12:], -layer.weight[:12])  # and their negatives


def test_airbench_builds_trains_one_step_and_keeps_its_whitening_in_the_state():
    model = build_model(ModelConfig(name="airbench", activation="gelu", width_mult=0.125), (3, 32, 32), 10)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    state = model.state_dict()
    assert any(k.endswith("ready") and bool(v) for k, v in state.items())
    again = build_model(ModelConfig(name="airbench", activation="gelu", width_mult=0.125), (3, 32, 32), 10)
    again.load_state_dict(state)
    model.eval(), again.eval()
    assert torch.equal(model(x), again(x))
    with pytest.raises(ValueError, match="at least 16x16"):
        build_model(ModelConfig(name="airbench"), (1, 8, 8), 10)


def test_sines_signals_are_fixed_and_each_burst_has_its_class_frequency():
    import numpy as np

    from netcoach.data.signals import SINES_BURST, SINES_CYCLES, sine_signals

    x, y = sine_signals()
    assert x.shape == (4000, 1, 96) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [1000] * 4  # balanced classes
    again_x, again_y = sine_signals()
    assert np.array_equal(x, again_x) and np.array_equal(y, again_y)  # the same set for every run
    clean, labels = sine_signals(n=40, noise=0.0)
    for signal, label in zip(clean[:, 0], labels):
        where = np.flatnonzero(signal)
        burst = signal[where[0]:where[0] + SINES_BURST]
        assert len(where) <= SINES_BURST  # zero outside the burst
        assert np.abs(np.fft.rfft(burst)).argmax() == SINES_CYCLES[label]  # c cycles: FFT bin c


@pytest.mark.parametrize("name, shape, chance", [("breast-cancer", (30,), 357 / 569), ("sines-cnn1d", (1, 96), 0.25)])
def test_tabular_and_signal_recipes_load_and_train_briefly(name, shape, chance):
    import netcoach
    from netcoach.train.resume import with_overrides

    torch.set_num_threads(1)
    recipe = get_recipe(name)
    config = with_overrides(recipe.config(), {"train.epochs": "2", "diagnose.preflight": "false",
                                              "early_stop.enabled": "false"})
    result = netcoach.train(config, save=False, progress=False)
    assert result.data.input_shape == shape and result.config.data.name == recipe.dataset
    assert len(result.history) == 2 and result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.summary["test"]["test_acc"] > chance + 0.2  # chance: the majority class's share
    assert default_recipe(recipe.dataset).name == name
