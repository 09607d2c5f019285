"""End to end: the trainer, the run folder, determinism, the CLI and the Python API."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import netcoach
from netcoach.cli import main
from netcoach.train import RunExistsError
from netcoach.train.checkpoint import load_weights
from netcoach.utils.io import read_jsonl


def test_run_folder_contents(quick_overrides, tmp_path):
    cfg = netcoach.load_config(overrides={**quick_overrides, "run.name": "r1"})
    result = netcoach.train(cfg)
    run = result.run_dir
    for name in ("config.toml", "env.json", "data.json", "metrics.jsonl", "summary.json",
                 "predictions.safetensors", "checkpoints/best.safetensors", "checkpoints/last.safetensors"):
        assert (run / name).is_file(), name
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr"} <= set(rows[0])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_epoch"] in (1, 2, 3) and 0 <= summary["test"]["test_acc"] <= 1
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 0 and env["torch"] == torch.__version__
    # The saved config reproduces the run; the best weights are the model returned.
    assert netcoach.load_config(run / "config.toml") == cfg
    best = load_weights(run / "checkpoints" / "best.safetensors")
    for k, v in result.model.state_dict().items():
        assert torch.equal(best[k], v.cpu())
    # An explicit name that exists is never overwritten.
    with pytest.raises(RunExistsError, match="already exists"):
        netcoach.train(cfg)


def test_same_seed_same_metrics(quick_overrides):
    cfg = netcoach.load_config(overrides=quick_overrides)
    a = netcoach.train(cfg).run_dir
    b = netcoach.train(cfg).run_dir
    assert a != b
    ra, rb = read_jsonl(a / "metrics.jsonl"), read_jsonl(b / "metrics.jsonl")
    drop = ("epoch_time", "samples_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in ra] == \
           [{k: v for k, v in r.items() if k not in drop} for r in rb]


def test_rerun_from_saved_config_reproduces(quick_overrides, tmp_path):
    first = netcoach.train(netcoach.load_config(overrides=quick_overrides))
    again = netcoach.train(netcoach.load_config(first.run_dir / "config.toml"))
    assert first.summary["test"] == again.summary["test"]


def test_cli_errors_create_no_run_folder(tmp_path, capsys):
    runs = tmp_path / "runs"
    for bad in (["--optim.lrr", "0.1"], ["--train.epochs", "ten"], ["--model.name", "nope"],
                ["--optim.name", "adamw2"]):
        code = main(["train", "--quiet", "--run.dir", str(runs), *bad])
        err = capsys.readouterr().err.strip()
        assert code == 2, bad
        assert len(err.splitlines()) == 1 and err.startswith("netcoach: error:"), err
        assert not runs.exists() or not any(runs.iterdir()), bad
    main(["train", "--quiet", "--run.dir", str(runs), "--model.name", "nope"])
    err = capsys.readouterr().err
    assert "unknown model 'nope'; available:" in err and "mlp" in err


def test_cli_train_mlp_and_module_entry(tmp_path):
    runs = tmp_path / "runs"
    out = subprocess.run([sys.executable, "-m", "netcoach", "train", "--data.name", "digits",
                          "--model.name", "mlp", "--train.epochs", "5", "--run.dir", str(runs),
                          "--run.name", "cli"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"run folder: {runs / 'cli'}" in out.stdout
    assert len(read_jsonl(runs / "cli" / "metrics.jsonl")) == 5


def test_api_accepts_arrays_model_and_callbacks(tmp_path):
    seen = []

    class Count(netcoach.Callback):
        def on_epoch_end(self, trainer, logs):
            seen.append(logs["epoch"])

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = torch.nn.Sequential(torch.nn.Linear(5, 2))
    cfg = netcoach.load_config(overrides={"train.epochs": 4, "optim.lr": 0.05, "diagnose.preflight": False,
                                          "report.enabled": False})
    result = netcoach.train(cfg, model=model, data=(x, y), callbacks=[Count()], save=False)
    assert seen == [1, 2, 3, 4]
    assert result.model is model and result.run_dir is None
    assert result.summary["test"]["test_acc"] > 0.9


def test_train_threads_option_sets_torch_threads(quick_overrides):
    # A value other than the current one (xdist workers run with 1), so the option must act;
    # building the trainer applies it, training with the extra thread is not needed.
    before = torch.get_num_threads()
    wanted = 2 if before == 1 else 1
    try:
        netcoach.build_trainer(netcoach.load_config(overrides={**quick_overrides,
                                                               "train.threads": str(wanted)}))
        assert torch.get_num_threads() == wanted
        torch.set_num_threads(before)
        netcoach.build_trainer(netcoach.load_config(overrides={**quick_overrides, "train.threads": "0"}))
        assert torch.get_num_threads() == before  # 0 keeps what is set
        with pytest.raises(ValueError, match="train.threads must be >= 0"):
            netcoach.build_trainer(netcoach.load_config(overrides={**quick_overrides, "train.threads": "-1"}))
    finally:
        torch.set_num_threads(before)


def test_epoch_logs_are_readable_while_open_and_follow_a_truncation(tmp_path):
    from netcoach.train import RunFolder

    run = RunFolder.create(tmp_path, "r", "r")
    for epoch in (1, 2, 3):
        run.append_metrics({"epoch": epoch, "val_loss": 1.0 / epoch})
        run.append_steps([{"step": 2 * epoch - 1, "epoch": epoch}, {"step": 2 * epoch, "epoch": epoch}])
    # every append is flushed: a reader (the report, a killed process's resume) sees it at once
    assert [r["epoch"] for r in run.metrics()] == [1, 2, 3]
    assert len(read_jsonl(run.file("steps.jsonl"))) == 6
    # a resume cuts the logs back by replacing the files; later rows must land in the new ones
    run.truncate_epoch_logs(1)
    run.append_metrics({"epoch": 2, "val_loss": 0.4})
    run.append_steps([{"step": 3, "epoch": 2}])
    assert [(r["epoch"], r["val_loss"]) for r in run.metrics()] == [(1, 1.0), (2, 0.4)]
    assert [r["step"] for r in read_jsonl(run.file("steps.jsonl"))] == [1, 2, 3]
    run.release()
    run.append_metrics({"epoch": 3, "val_loss": 0.3})  # after release a write reopens the file
    assert [r["epoch"] for r in run.metrics()] == [1, 2, 3]
