"""``netcoach compare``: three real digits runs with different optimizers side by side."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import netcoach
from netcoach.cli import main
from netcoach.report.compare import compare_runs, differing_keys, expand_runs, to_markdown

OPTIMIZERS = {"sgd": {"optim.name": "sgd", "optim.lr": "0.1"},
              "sgd-nomomentum": {"optim.name": "sgd", "optim.lr": "0.1", "optim.momentum": "0"},
              "adam": {"optim.name": "adam", "optim.lr": "0.003"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    parent = tmp_path_factory.mktemp("runs")
    for name, overrides in OPTIMIZERS.items():
        cfg = netcoach.load_config(overrides={"model.name": "mlp", "model.width": "32",
                                              "train.epochs": "2", "run.dir": str(parent),
                                              "run.name": name, "report.enabled": "false",
                                              **overrides})
        netcoach.train(cfg)
    (parent / "not-a-run").mkdir()  # a glob over the parent must skip it
    return parent


def test_compare_cli_prints_table_and_writes_files(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(runs / "*"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in OPTIMIZERS:
        assert name in printed
    assert "differing config keys: optim.name, optim.lr, optim.momentum" in printed
    for header in ("test_acc", "test_loss", "parameters", "epochs", "time (s)", "optim.name"):
        assert header in printed
    html = (out / "comparison.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 1  # overlaid validation curves
    assert "<code>optim.momentum</code>" in html and "sgd-nomomentum" in html
    assert (out / "val_curves.png").stat().st_size > 5000
    rows = list(csv.DictReader(io.StringIO((out / "comparison.csv").read_text())))
    assert [r["run"] for r in rows] == ["adam", "sgd", "sgd-nomomentum"]  # sorted glob order
    assert {r["optim.name"] for r in rows} == {"sgd", "adam"}
    assert [r["optim.momentum"] for r in rows] == ["0.9", "0.9", "0.0"]
    md = (out / "comparison.md").read_text()
    assert md.startswith("| run | test_acc | test_loss |") and md.count("\n") == 5


def test_compare_values_come_from_the_runs(runs):
    comp = compare_runs([runs / "sgd", runs / "adam"])
    assert comp.differing == ["optim.name", "optim.lr"]
    col = comp.columns.index("test_acc")
    import json

    for row, name in zip(comp.rows, ("sgd", "adam")):
        summary = json.loads((runs / name / "summary.json").read_text())
        assert row[0] == name and row[col] == summary["test"]["test_acc"]
        assert row[comp.columns.index("parameters")] == summary["parameters"]
    assert set(comp.curves["adam"]) >= {"val_loss", "val_acc"}
    assert comp.curves["adam"]["val_acc"][0] == [1, 2]
    assert "| sgd |" in to_markdown(comp)


def test_differing_keys_rules():
    a = {"optim.name": "sgd", "optim.lr": 0.1, "run.name": "a", "model.width": 8}
    b = {"optim.name": "sgd", "optim.lr": 0.01, "run.name": "b", "model.width": 8, "new.key": 1}
    assert differing_keys([a, b]) == ["optim.lr", "new.key"]  # run.* ignored, missing counts
    assert differing_keys([a, dict(a)]) == []


def test_expand_runs_errors(runs, tmp_path):
    assert expand_runs([runs / "adam", str(runs / "ad*")]) == [runs / "adam"]  # no duplicates
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        expand_runs([runs / "not-a-run"])
    with pytest.raises(FileNotFoundError, match="no run folder matches"):
        expand_runs([str(tmp_path / "zz*")])


def test_crashed_run_in_a_comparison(runs, tmp_path):
    import shutil

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(runs / "adam" / "config.toml", crashed)
    lines = (runs / "adam" / "metrics.jsonl").read_text().splitlines()
    (crashed / "metrics.jsonl").write_text(lines[0] + "\n")
    comp = compare_runs([runs / "adam", crashed])
    row = comp.rows[1]
    import json

    first = json.loads(lines[0])
    assert row[comp.columns.index("best val_acc")] == first["val_acc"]  # from metrics.jsonl
    assert row[comp.columns.index("epochs")] == 1 and row[comp.columns.index("test_acc")] is None
