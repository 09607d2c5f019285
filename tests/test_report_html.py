"""The run report: a real short digits run gets a complete, self-contained report.html,
it renders in headless Chromium without console messages, and incomplete runs still
get a report of what they hold."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

import netcoach
from netcoach.cli import main
from netcoach.report import write_report
from netcoach.report.browser import find_chromium, screenshot
from netcoach.report.plots import plot_lr_find
from netcoach.utils.io import append_jsonl, atomic_write_json

SECTIONS = ["summary", "doctor", "preflight", "curves", "lr", "lr-finder", "test", "mistakes",
            "filters", "monitors", "augment", "model", "config", "environment", "notes"]
# A default run has live monitors on (monitors.jsonl), so its report has their plot too.
PLOTS = ["curves.png", "lr.png", "confusion.png", "mistakes.png", "filters.png", "monitors.png"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A real 3-epoch CNN run on digits, report written by ``train`` itself."""
    runs = tmp_path_factory.mktemp("runs")
    cfg = netcoach.load_config(overrides={"model.name": "cnn", "model.width": "32",
                                          "train.epochs": "3", "run.dir": str(runs),
                                          "run.name": "digits", "report.enabled": "true"})
    return netcoach.train(cfg).run_dir


def _images(html: str) -> list[bytes]:
    import base64

    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def _check_png(data: bytes, min_bytes: int = 2000, min_side: int = 60) -> tuple[int, int]:
    import io

    assert len(data) >= min_bytes, f"PNG of only {len(data)} bytes"
    with Image.open(io.BytesIO(data)) as im:
        im.verify()  # raises on a truncated or corrupt file
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and min(im.size) >= min_side, im.size
        extrema = im.convert("L").getextrema()
        assert extrema[0] < extrema[1], "blank image"
        return im.size


def _check_self_contained(html: str) -> None:
    """Every src/href is a data: URI or an in-page anchor; no scripts, no external CSS."""
    for attr, value in re.findall(r'\b(src|href)="([^"]*)"', html):
        assert value.startswith("data:") or value.startswith("#"), f"external {attr}: {value[:80]}"
    assert "<script" not in html.lower()
    assert "@import" not in html and "url(" not in html


def test_train_writes_complete_report(digits_run):
    report = digits_run / "report.html"
    assert report.exists(), "train did not write report.html"
    html = report.read_text(encoding="utf-8")
    for ident in SECTIONS:
        assert f'<section id="{ident}">' in html, f"section {ident} missing"
    for name in PLOTS:
        path = digits_run / "plots" / name
        assert path.exists(), f"{name} not written"
        _check_png(path.read_bytes())
    embedded = _images(html)
    assert len(embedded) == len(PLOTS)
    for data in embedded:
        _check_png(data)
    _check_self_contained(html)
    summary = json.loads((digits_run / "summary.json").read_text())
    assert f'{summary["test"]["test_acc"]:.4f}' in html  # the headline numbers are the run's
    assert f'{summary["parameters"]:,}' in html
    assert "[optim]" in html and "name = &quot;adam&quot;" in html  # the config, escaped


def _add_optional_records(run: Path) -> None:
    """What the other parts of netcoach write when enabled, in their documented formats
    (replacing the run's own steps and monitor records with known ones)."""
    for name in ("steps.jsonl", "monitors.jsonl"):
        (run / name).unlink(missing_ok=True)
    for step in range(1, 20):
        append_jsonl(run / "steps.jsonl", {"step": step, "epoch": 1 + step // 7,
                                           "lr": 1e-3 * min(1.0, step / 5), "loss": 2.0 / step})
    for epoch in (1, 2, 3):
        layers = {name: {"update_ratio": 1e-3 * epoch, "grad_norm": 0.5 / epoch, "weight_norm": 2.0,
                         "dead_frac": 0.0, "saturated_frac": 0.0, "act_mean": 0.1, "act_std": 1.0}
                  for name in ("0", "3", "8")}
        append_jsonl(run / "monitors.jsonl", {"epoch": epoch, "layers": layers,
                                              "warnings": ["layer 8: update ratio high"] if epoch == 3 else []})
    lrs = [10 ** (-6 + 5 * i / 49) for i in range(50)]
    losses = [2.3 - 1.5 * (i / 35) if i < 35 else 0.8 + (i - 35) ** 2 * 0.2 for i in range(50)]
    atomic_write_json(run / "lr_find.json", {"lrs": lrs, "losses": losses, "smoothed": losses,
                                             "suggestion": lrs[25], "rule": "steepest descent"})
    Image.new("RGB", (320, 160), (40, 120, 200)).save(run / "augment_preview.png")
    atomic_write_json(run / "model_summary.json", {
        "input_shape": [1, 8, 8], "total_params": 1234,
        "layers": [{"name": "0", "type": "Conv2d", "output_shape": [8, 8, 8], "params": 72}]})


def test_report_rebuilt_with_every_optional_record(digits_run, tmp_path):
    run = tmp_path / "full"
    shutil.copytree(digits_run, run)
    _add_optional_records(run)
    html = write_report(run).read_text(encoding="utf-8")
    for name in PLOTS + ["lr_find.png"]:
        _check_png((run / "plots" / name).read_bytes())
    assert len(_images(html)) == len(PLOTS) + 2  # + LR finder, augmentation preview
    assert "steepest descent" in html and "layer 8: update ratio high" in html
    assert "<td>Conv2d</td>" in html  # model summary table
    _check_self_contained(html)


def test_plot_lr_find_signature(tmp_path):
    record = {"lrs": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], "losses": [2.3, 2.2, 1.5, 1.0, 9.0]}
    out = plot_lr_find(record, tmp_path / "lr_find.png")  # smoothed/suggestion/rule optional
    assert out == tmp_path / "lr_find.png"
    _check_png(out.read_bytes())


def test_crashed_run_gets_a_partial_report(tmp_path):
    run = tmp_path / "crashed"
    run.mkdir()
    (run / "config.toml").write_text('[model]\nname = "mlp"\n[train]\nepochs = 10\n')
    for epoch in (1, 2):
        append_jsonl(run / "metrics.jsonl", {"epoch": epoch, "lr": 0.1, "train_loss": 2.0 / epoch,
                                             "train_acc": 0.3 * epoch, "val_loss": 2.1 / epoch,
                                             "val_acc": 0.25 * epoch})
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 3, "train_lo')  # torn last line: the process died mid-write
    html = write_report(run).read_text(encoding="utf-8")
    assert "incomplete" in html and "summary.json is missing" in html
    assert "predictions.safetensors is missing" in html
    assert len(_images(html)) == 2  # learning curves and the per-epoch learning rate
    _check_png((run / "plots" / "curves.png").read_bytes())


def test_report_cli(digits_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(digits_run, run)
    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").exists()
    assert str(run / "report.html") in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian: apt-get install "
                                             "chromium); the browser rendering check is skipped")
def test_report_renders_in_headless_chromium(digits_run, tmp_path):
    result = screenshot(digits_run / "report.html", tmp_path / "shot.png", 1280, 1600)
    assert result.returncode == 0, result.log[-2000:]
    assert result.console == [], f"console messages: {result.console}"
    size = _check_png(result.screenshot.read_bytes(), min_bytes=20_000)
    assert size == (1280, 1600)
    # the detector works: a page with a script error and a console.error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); missingFn();</script></body></html>")
    caught = screenshot(bad, tmp_path / "bad.png", 400, 300)
    assert any("boom" in m for m in caught.console)
    assert any("missingFn" in m for m in caught.console)


def test_unexpected_record_content_becomes_a_note(tmp_path):
    run = tmp_path / "odd"
    run.mkdir()
    atomic_write_json(run / "summary.json", {"test": [0.5], "doctor": 3, "best_epoch": "x"})
    append_jsonl(run / "metrics.jsonl", {"epoch": 1, "train_loss": "nan?", "val_acc": None})
    html = write_report(run).read_text(encoding="utf-8")
    assert '<section id="notes">' in html and "could not build the Summary section" in html
    for ident in SECTIONS:
        assert f'<section id="{ident}">' in html
