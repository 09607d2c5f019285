"""The search-space file: every bad entry fails before any trial runs, with one line
naming the file and the entry; good entries give the grid and the values Optuna samples."""

from __future__ import annotations

import math

import optuna
import pytest

from netcoach.cli import main
from netcoach.config import Config, ConfigError
from netcoach.experiments.space import apply_params, from_mapping, load_space

GOOD = '"optim.momentum" = {uniform = [0.8, 0.99]}\n'

# (entry as written in the file, words the error must contain)
BAD = {
    "unknown key": ('"optim.lrr" = {log_uniform = [1e-4, 1e-1]}', ["'optim.lrr'", "unknown config key",
                                                                   "optim.lr"]),
    "unknown section": ('"optimizer.lr" = {uniform = [0.1, 0.2]}', ["'optimizer.lr'", "unknown config key"]),
    "low above high": ('"model.dropout" = {uniform = [0.5, 0.1]}', ["'model.dropout'", "low 0.5 > high 0.1"]),
    "log range touching 0": ('"optim.lr" = {log_uniform = [0.0, 0.1]}', ["'optim.lr'", "touches 0"]),
    "log range below 0": ('"optim.weight_decay" = {log_uniform = [-1e-3, 1e-2]}', ["'optim.weight_decay'",
                                                                                   "touches 0"]),
    "choice not in the key's choices": ('"model.norm_position" = {choice = ["before", "middle"]}',
                                        ["'model.norm_position'", "'middle'", "before, after"]),
    "choice of the wrong type": ('"model.width" = {choice = [32, "wide"]}', ["'model.width'", "'wide'",
                                                                            "expected int"]),
    "choice not a registered name": ('"model.activation" = {choice = ["relu", "swishy"]}',
                                     ["'model.activation'", "'swishy'", "unknown activation", "tanh"]),
    "float range on an int key": ('"model.width" = {uniform = [16.0, 64.0]}', ["'model.width'",
                                                                              "expected int"]),
    "int with float bounds": ('"model.width" = {int = [16, 64.5]}', ["'model.width'", "integer bounds"]),
    "no distribution": ('"optim.lr" = 0.01', ["'optim.lr'", "exactly one of log_uniform, uniform, int, choice"]),
    "two distributions": ('"optim.lr" = {uniform = [0.1, 0.2], choice = [0.1]}', ["'optim.lr'", "exactly one"]),
    "unknown option": ('"optim.lr" = {uniform = [0.1, 0.2], step = 2}', ["'optim.lr'", "unknown option step"]),
    "range of three numbers": ('"optim.lr" = {uniform = [0.1, 0.2, 0.3]}', ["'optim.lr'", "[low, high]"]),
    "empty choice": ('"model.activation" = {choice = []}', ["'model.activation'", "non-empty list"]),
    "key set by the study": ('"train.seed" = {int = [0, 5]}', ["'train.seed'", "--seeds"]),
    "process count": ('"dist.nproc" = {int = [1, 2]}', ["'dist.nproc'", "one process per run"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_search_space_entry_fails_before_any_trial(case, tmp_path, capsys):
    entry, words = BAD[case]
    space = tmp_path / "space.toml"
    space.write_text(GOOD + entry + "\n")
    runs = tmp_path / "runs"
    code = main(["search", "--space", str(space), "--trials", "2", "--model.name", "mlp",
                 "--run.dir", str(runs)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert str(space) in err and "search space entry" in err
    for word in words:
        assert word in err, f"{word!r} missing from: {err}"
    assert not runs.exists(), "a run or study folder was written for a bad space"


def test_empty_space_is_an_error(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="search space is empty"):
        load_space(space)


def test_nested_tables_and_quoted_keys_read_alike():
    flat = from_mapping({"optim.lr": {"log_uniform": [1e-3, 1e-1]}, "model.width": {"int": [16, 64], "step": 16}})
    nested = from_mapping({"optim": {"lr": {"log_uniform": [1e-3, 1e-1]}},
                           "model": {"width": {"int": [16, 64], "step": 16}}})
    assert flat == nested
    assert flat.keys == ["optim.lr", "model.width"]


def test_grid_points_are_evenly_spaced_log_spaced_and_every_choice():
    space = from_mapping({"optim.lr": {"log_uniform": [1e-3, 1e-1]},
                          "model.dropout": {"uniform": [0.0, 0.5]},
                          "model.width": {"int": [16, 64], "step": 16},
                          "model.depth": {"int": [1, 10]},
                          "augment.transforms": {"choice": [[], ["hflip", "crop"]]}})
    grid = space.grid(3)
    assert grid["optim.lr"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert grid["optim.lr"][0] == 1e-3 and grid["optim.lr"][-1] == 1e-1  # bounds exactly, for GridSampler
    assert grid["model.dropout"] == pytest.approx([0.0, 0.25, 0.5])
    assert grid["model.width"] == [16, 48, 64]  # 4 allowed values thinned to 3 (index 1.5 rounds up)
    assert grid["model.depth"] == [1, 6, 10]  # ten ints thinned to 3: first, middle (rounded up), last
    assert space.grid(5)["model.width"] == [16, 32, 48, 64]  # fewer values than points: all of them
    assert grid["augment.transforms"] == ["[]", '["hflip", "crop"]']  # lists as JSON text


def test_sampled_params_are_valid_config_values():
    space = from_mapping({"optim.lr": {"log_uniform": [1e-3, 1e-1]},
                          "model.width": {"int": [16, 64], "step": 16},
                          "augment.transforms": {"choice": [["hflip"], ["hflip", "crop"]]}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(10):
        trial = study.ask()
        params = space.suggest(trial)
        assert 1e-3 <= params["optim.lr"] <= 1e-1
        assert params["model.width"] in (16, 32, 48, 64)
        assert params["augment.transforms"] in (["hflip"], ["hflip", "crop"])
        config = apply_params(Config(), params)
        assert config.optim.lr == params["optim.lr"]
        assert config.augment.transforms == params["augment.transforms"]
        assert space.decode(trial.params) == params  # the stored JSON text decodes back
        study.tell(trial, 0.0)
    lrs = [t.params["optim.lr"] for t in study.trials]
    # log-uniform: the draws cover decades evenly, not mostly the top one
    assert min(lrs) < 1e-2 < max(lrs) and not math.isclose(min(lrs), max(lrs))
