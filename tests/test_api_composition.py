"""The composition root: run-folder ownership, the runtime seam, reloading runs, progress."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import netcoach
from netcoach.api import show_progress
from netcoach.train.run import DATA, MODEL, RunFolder
from netcoach.utils.runtime import Runtime

FAST = {"model.name": "mlp", "model.width": 32, "train.epochs": 2, "optim.lr": 0.01, "diagnose.preflight": False,
        "report.enabled": False}


def _config(tmp_path, **extra):
    return netcoach.load_config(overrides={**FAST, "run.dir": str(tmp_path), **extra})


def test_runtime_rank_must_lie_inside_the_world():
    with pytest.raises(ValueError, match="rank 2 is outside a world of 2"):
        Runtime(torch.device("cpu"), rank=2, world_size=2)
    assert Runtime(torch.device("cpu"), rank=1, world_size=2).is_main is False
    assert Runtime.local("cpu").is_main


def test_a_process_that_is_not_main_trains_but_writes_no_file(tmp_path):
    worker = Runtime(torch.device("cpu"), rank=1, world_size=2)
    result = netcoach.train(_config(tmp_path, **{"run.name": "r", "log.csv": True}), runtime=worker)
    assert result.summary["test"]["test_acc"] > 0.8  # it trained
    assert list(tmp_path.iterdir()) == []           # and left no folder and no file


def test_main_process_writes_the_run_folder_files(tmp_path):
    result = netcoach.train(_config(tmp_path, **{"run.name": "r"}),
                            runtime=Runtime(torch.device("cpu"), rank=0, world_size=2))
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"config.toml", "env.json", DATA, MODEL, "metrics.jsonl", "steps.jsonl",
            "summary.json", "checkpoints"} <= names


def test_run_folder_of_a_non_main_process_ignores_every_write(tmp_path):
    run = RunFolder(tmp_path, Runtime(torch.device("cpu"), rank=3, world_size=4))
    run.write_summary({"a": 1})
    run.write_data({"a": 1})
    run.append_metrics({"epoch": 1})
    run.append_steps([{"epoch": 1}, {"epoch": 1}])
    run.save_weights("last", {"w": torch.zeros(2)}, {"epoch": 1})
    run.write_text("metrics.csv", "x")
    assert list(tmp_path.iterdir()) == []


def test_load_run_rebuilds_a_registry_model_and_gives_identical_outputs(tmp_path):
    result = netcoach.train(_config(tmp_path))
    _, model = netcoach.load_run(result.run_dir)
    x = torch.randn(5, *result.data.input_shape)
    result.model.eval()
    assert torch.equal(model(x), result.model.cpu()(x))


def test_load_run_of_a_custom_model_says_why_and_accepts_the_module(tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    def net():
        torch.manual_seed(1)
        return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

    result = netcoach.train(_config(tmp_path), model=net(), data=(x, y))
    record = json.loads((result.run_dir / MODEL).read_text())
    assert record == {"source": "custom", "class": "torch.nn.modules.container.Sequential"}
    with pytest.raises(ValueError, match=r"custom model \(torch.nn.modules.container.Sequential\).*model=\.\.\."):
        netcoach.load_run(result.run_dir)
    _, model = netcoach.load_run(result.run_dir, model=net())
    probe = torch.randn(4, 2)
    assert torch.equal(model(probe), result.model.cpu().eval()(probe))


def test_load_run_names_the_checkpoints_that_exist(tmp_path):
    result = netcoach.train(_config(tmp_path))
    with pytest.raises(FileNotFoundError, match="valid checkpoints: best, last"):
        netcoach.load_run(result.run_dir, which="epoch-7")


def test_resume_with_more_epochs_records_them_in_config_toml(tmp_path):
    result = netcoach.train(_config(tmp_path))
    resumed = netcoach.train(resume=result.run_dir,
                             config=netcoach.api.resume_config(result.run_dir,
                                                               overrides={"train.epochs": 3}))
    assert len(resumed.history) == 3
    assert RunFolder(result.run_dir).config().train.epochs == 3


def test_progress_defaults_to_off_when_output_is_not_a_terminal(capsys, tmp_path):
    assert show_progress(None) is False  # pytest captures the output: no terminal
    assert show_progress(True) is True and show_progress(False) is False
    netcoach.train(_config(tmp_path), save=False)
    assert capsys.readouterr().out == ""


def test_api_names_that_scripts_import_are_the_functions_of_their_modules():
    from netcoach.api import build, callbacks, data_setup

    assert netcoach.api.build_trainer is build.build_trainer is netcoach.build_trainer
    assert netcoach.api.default_callbacks is callbacks.default_callbacks
    assert netcoach.api.show_progress is callbacks.show_progress
    assert netcoach.api.data_record is data_setup.data_record
    for name in netcoach.api.__all__:
        assert callable(getattr(netcoach.api, name)), name


def test_build_task_and_data_refuses_a_balanced_sampler_for_a_task_without_classes():
    from netcoach.api.data_setup import build_task_and_data
    from netcoach.config import ConfigError

    config = netcoach.load_config(overrides={"task.name": "regression", "data.sampler": "balanced"})
    x, y = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32), np.arange(40.0)
    with pytest.raises(ConfigError, match="data.sampler balanced: task regression has no classes to balance"):
        build_task_and_data(config, torch.device("cpu"), (x, y))
