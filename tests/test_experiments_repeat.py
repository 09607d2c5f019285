"""``netcoach repeat``: K seeds of one configuration summarised as mean ± sample std with a
Student-t interval, and ``compare --group-by`` giving one row per setting."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import pytest

from netcoach.cli import main
from netcoach.report.html import fmt
from netcoach.report.compare import compare_runs, group_runs
from netcoach.report.stats import spread

QUICK = ["--model.name", "mlp", "--model.width", "16", "--train.epochs", "2", "--train.threads", "1",
         "--diagnose.preflight", "false", "--diagnose.monitor", "false", "--report.enabled", "false",
         "--quiet"]


def test_spread_matches_hand_computed_t_interval():
    s = spread([0.90, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92)
    assert s.std == pytest.approx(0.02)  # sample std: sqrt((0.02^2 + 0 + 0.02^2) / 2)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t_{0.975, 2} from a t table
    assert (s.low, s.high) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))
    assert s.text() == "0.9200 ± 0.0200 (95% CI 0.8703–0.9697, n=3)"
    one = spread([0.5])
    assert one.n == 1 and math.isnan(one.std) and "no spread" in one.text()
    with pytest.raises(ValueError, match="finite"):
        spread([0.1, float("nan")])


@pytest.fixture(scope="module")
def two_settings(tmp_path_factory) -> Path:
    """Three seeds each of two learning rates, made by ``netcoach repeat``."""
    runs = tmp_path_factory.mktemp("runs")
    for name, lr in (("lr-small", "0.001"), ("lr-large", "0.01")):
        assert main(["repeat", "--seeds", "3", "--optim.lr", lr, "--run.name", name,
                     "--run.dir", str(runs), *QUICK]) == 0
    return runs


def test_repeat_prints_mean_and_std_of_test_accuracy(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["repeat", "--seeds", "3", "--run.name", "group", "--run.dir", str(runs), *QUICK]) == 0
    out = capsys.readouterr().out
    group = runs / "group"
    accs = [json.loads((group / f"seed-{s}" / "summary.json").read_text())["test"]["test_acc"]
            for s in range(3)]
    assert len(set(accs)) > 1, "three seeds gave identical runs"
    line = next(l for l in out.splitlines() if l.startswith("test_acc"))
    assert f"{statistics.mean(accs):.4f} ± {statistics.stdev(accs):.4f}" in line
    assert "95% CI" in line and "n=3" in line
    record = json.loads((group / "group.json").read_text())
    assert record["runs"] == ["seed-0", "seed-1", "seed-2"]
    assert record["metrics"]["test_acc"]["values"] == accs
    assert record["metrics"]["test_acc"]["std"] == pytest.approx(statistics.stdev(accs))
    assert "best_val_acc" in record["metrics"] and "test_loss" in record["metrics"]
    assert (group / "group.md").read_text().startswith("| metric | mean ± std | 95% CI | n |")


def test_repeat_refuses_an_existing_group_before_training(tmp_path, capsys):
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    assert main(["repeat", "--seeds", "2", "--run.name", "taken", "--run.dir", str(tmp_path / "runs"),
                 *QUICK]) == 2
    assert "group folder" in capsys.readouterr().err
    assert list((tmp_path / "runs" / "taken").iterdir()) == []


def test_repeat_with_a_bad_model_name_writes_nothing(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["repeat", "--seeds", "2", "--model.name", "foo", "--run.name", "g",
                 "--run.dir", str(runs), "--quiet"]) == 2
    assert "unknown model 'foo'" in capsys.readouterr().err
    assert not (runs / "g").exists()


def test_repeat_refuses_a_multi_process_run(tmp_path, capsys):
    assert main(["repeat", "--seeds", "2", "--dist.nproc", "2", "--run.dir", str(tmp_path / "runs"),
                 "--quiet"]) == 2
    assert "--dist.nproc 2: repeat trains each run in one process" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_compare_group_by_prints_one_row_per_setting(two_settings, tmp_path, capsys):
    assert main(["compare", str(two_settings / "*" / "seed-*"), "--group-by", "optim.lr",
                 "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    rows = [l for l in out.splitlines() if l.strip().startswith(("│ 0.001 ", "│ 0.01 "))]
    assert len(rows) == 2, out
    for lr, name in (("0.001", "lr-small"), ("0.01", "lr-large")):
        accs = [json.loads((two_settings / name / f"seed-{s}" / "summary.json").read_text())["test"]["test_acc"]
                for s in range(3)]
        row = next(r for r in rows if r.strip().startswith(f"│ {lr} "))
        assert f"{fmt(statistics.mean(accs))} ± {fmt(statistics.stdev(accs))}" in row, row
        assert re.search(r"│\s+3 │", row), row  # three runs in the group
    md = (tmp_path / "cmp" / "groups.md").read_text()
    assert md.splitlines()[0].startswith("| optim.lr | runs | test_acc |") and md.count("\n") == 4


def test_group_by_an_unknown_key_names_it(two_settings):
    comp = compare_runs([two_settings / "*" / "seed-*"])
    with pytest.raises(ValueError, match="--group-by model.normpos: not a config key.*optim.lr"):
        group_runs(comp, ["model.normpos"])
    by_two = group_runs(comp, ["optim.lr", "model.width"])  # two keys: still one row per lr
    assert [row[:3] for row in by_two.rows] == [[0.01, 16, 3], [0.001, 16, 3]]
