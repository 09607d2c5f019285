"""`netcoach finetune`: fastai's recipe as a config, from a run folder or a weights file."""

from __future__ import annotations

import json

import pytest
from sklearn.datasets import load_digits

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError, ModelConfig
from netcoach.models import build_model
from netcoach.transfer import backbone_blocks, lr_multipliers
from netcoach.transfer.recipe import count_blocks, finetune_config, source_config

SHAPES = {"mlp": (1, 8, 8), "cnn": (1, 16, 16), "lenet5": (1, 32, 32), "resnet": (3, 32, 32),
          "resnet9": (3, 32, 32), "vgg": (3, 32, 32)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_block_count_from_a_state_dict_equals_the_models_blocks(name):
    model = build_model(ModelConfig(name=name, width=8), SHAPES[name], 10)
    assert count_blocks(model.state_dict()) == len(backbone_blocks(model))


@pytest.fixture
def source(tmp_path, quick_overrides):
    cfg = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "2", "run.name": "src"})
    return netcoach.train(cfg, progress=False).run_dir


def test_recipe_gives_the_first_block_lr_over_lr_mult_and_freezes_the_head_epochs(source):
    cfg = finetune_config(source, source_config(source), epochs=3, freeze_epochs=2, lr_mult=100)
    assert cfg.train.epochs == 5 and cfg.transfer.freeze == "backbone" and cfg.transfer.unfreeze_epoch == 2
    assert cfg.transfer.layer_decay == pytest.approx(0.1)   # mlp: 2 blocks, (1/100)^(1/2)
    model = build_model(cfg.model, (1, 8, 8), 10)
    mults = {name: mult for name, _, mult in lr_multipliers(model, cfg.transfer)}
    assert mults == pytest.approx({"head": 1.0, "block0": 0.01, "block1": 0.1})
    with pytest.raises(ConfigError, match="--lr-mult must be >= 1"):
        finetune_config(source, cfg, epochs=1, lr_mult=0.5)


def test_finetune_cli_from_a_run_writes_a_new_run_with_the_recipe(tmp_path, source, capsys):
    code = main(["finetune", str(source), "--epochs", "1", "--freeze-epochs", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    runs = [p for p in source.parent.iterdir() if p.name != "src"]
    assert len(runs) == 1
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["transfer"]["unfreeze_epoch"] == 1
    assert summary["transfer"]["init_from"]["source"] == str(source)
    assert "init_from" in capsys.readouterr().out


def test_finetune_onto_fewer_classes_keeps_a_new_head(tmp_path, quick_overrides, source):
    x, y = load_digits(return_X_y=True)
    keep = y < 4
    cfg = finetune_config(source, netcoach.load_config(overrides={**quick_overrides, "run.name": "four"}),
                          epochs=1, freeze_epochs=1)
    bundle = netcoach.from_arrays(x[keep].reshape(-1, 1, 8, 8), y[keep], cfg.data, scale=16.0)
    result = netcoach.train(cfg, data=bundle, progress=False)
    assert result.model.num_outputs == 4
    assert result.summary["transfer"]["init_from"]["head_replaced"] == "10 -> 4 outputs"
    assert result.summary["test"]["test_acc"] > 0.5
