"""Command-line polish: ``lr-find`` warns when the suggestion comes from the edge of the sweep,
``lr-find --run RUN`` writes lr_find.json into that run folder so its report shows the sweep,
and ``data info`` reports duplicate counts."""

from __future__ import annotations

import json

import netcoach
from netcoach.cli import main
from netcoach.cli.lr_find_cmd import edge_warning


def _record(smoothed, stopped_early=False):
    lrs = [10 ** (-6 + 6 * i / (len(smoothed) - 1)) for i in range(len(smoothed))]
    return {"lrs": lrs, "losses": smoothed, "smoothed": smoothed, "stopped_early": stopped_early}


def test_edge_warning_only_when_the_minimum_is_at_the_end_of_a_full_sweep():
    falling = [2.3 - 0.01 * i for i in range(100)]
    warning = edge_warning(_record(falling))
    assert "end of the sweep (lr 1 of max 1)" in warning and "--end-exp" in warning
    assert edge_warning(_record(falling, stopped_early=True)) is None  # it diverged: the edge is real
    dip = [2.3 - 0.02 * i for i in range(50)] + [1.3 + 0.05 * i for i in range(50)]
    assert edge_warning(_record(dip)) is None


def test_lr_find_run_writes_into_the_run_folder_with_its_config(tmp_path, capsys):
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "model.width": "16", "train.epochs": "1",
                                          "run.dir": str(tmp_path), "run.name": "r",
                                          "report.enabled": "false", "diagnose.preflight": "false"})
    netcoach.train(cfg, progress=False)
    run = tmp_path / "r"
    # a sweep ending at 3e-3 is still falling: the warning must be printed and recorded
    assert main(["lr-find", "--run", str(run), "--num", "30", "--start-exp", "-4", "--end-exp", "-2.5"]) == 0
    out = capsys.readouterr().out
    assert f"record: {run / 'lr_find.json'}" in out and "warning: the lowest loss is at the end" in out
    record = json.loads((run / "lr_find.json").read_text())
    assert len(record["lrs"]) == 30 and "end of the sweep" in record["warning"]
    assert (run / "lr_find.png").is_file()
    assert main(["lr-find", "--run", str(tmp_path / "nope")]) == 2
    assert "no config.toml there" in capsys.readouterr().err


def test_data_info_reports_duplicate_counts(tmp_path, capsys):
    from tests.test_data_folder import make_folder

    root = make_folder(tmp_path / "imgs", per_class=6)
    for i in range(6):  # six dog images are byte-identical to six eel images
        (root / "dog" / f"{i:03d}.png").write_bytes((root / "eel" / f"{i:03d}.png").read_bytes())
    assert main(["data", "info", str(root), "--json", "--data.cache_dir", str(tmp_path / "c")]) == 0
    s = json.loads(capsys.readouterr().out)
    dup = s["duplicates"]
    assert set(dup) == {"val_in_train", "test_in_train", "test_in_val", "within_train"}
    assert 0 < sum(dup.values()) <= 6  # each of the six pairs counted at most once
    for split in ("val", "test"):
        warned = [w for w in s["warnings"] if w.endswith(f"{split} results will be optimistic")]
        assert (int(warned[0].split()[0]) if warned else 0) == dup[f"{split}_in_train"]
    assert main(["data", "info", str(root), "--data.cache_dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert (f"exact duplicates: {dup['val_in_train']} val and {dup['test_in_train']} test samples also "
            f"in train, {dup['test_in_val']} test in val, {dup['within_train']} repeated within train") in out
