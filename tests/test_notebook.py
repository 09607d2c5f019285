"""Notebook support: the result's HTML rendering, the embedded report, and the quickstart
notebook run headless by nbclient."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import netcoach
from netcoach.report.notebook import TITLE, result_html

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb")
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "model.width": "16", "train.epochs": "3",
                                          "run.dir": str(root), "run.name": "r",
                                          "diagnose.preflight": "false"})
    return netcoach.train(cfg)


def test_result_html_has_summary_table_curves_and_doctor(result):
    page = result._repr_html_()
    assert page == result_html(result)
    assert TITLE in page and "<table>" in page
    assert f"<th>test_acc</th><td>{result.summary['test']['test_acc']:.4f}".rstrip("0") in page
    assert "<th>epochs run</th><td>3</td>" in page
    assert '<img alt="learning curves" src="data:image/png;base64,iVBOR' in page   # PNG magic
    label = result.summary["doctor"][0]["label"]
    assert "<h3>Doctor</h3>" in page and f"<b>{label}</b>" in page


def test_report_returns_its_path_and_builds_a_missing_one(result):
    path = result.report()
    assert path == result.run_dir / "report.html" and path.is_file()
    path.unlink()
    assert result.report().is_file()                        # rebuilt from the folder


def test_report_without_a_run_folder_is_a_clear_error(result):
    unsaved = netcoach.RunResult(result.config, result.model, result.history, result.summary, result.data)
    with pytest.raises(ValueError, match="save=False: it has no run folder"):
        unsaved.report()


@pytest.mark.slow
def test_quickstart_notebook_runs_headless_and_shows_the_summary(tmp_path):
    import nbclient
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    shutil.copy(NOTEBOOK, tmp_path)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any(TITLE in page and "test_acc" in page for page in html)       # result's table
    assert any("<iframe srcdoc=" in page for page in html)                  # embedded report
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    # rich's live display (its last lines may still be in flight when a loaded kernel goes idle)
    assert "epoch   1  train_loss" in text
    assert "Warning" not in text                                            # e.g. rich lacking ipywidgets
    assert "onnxruntime vs PyTorch on test split of digits" in text
    assert len(list((tmp_path / "runs").glob("digits-mlp-*/report.html"))) == 1
