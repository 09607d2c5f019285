"""The study report: a real small study gets a self-contained study.html with the trials
table (pruned and failed trials marked), the best configuration with mean ± std over its
seeds, and the history, curves, importance and slice plots; it renders in Chromium."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import optuna
import pytest
from PIL import Image

import netcoach
from netcoach.experiments.space import from_mapping
from netcoach.experiments.spec import StudySpec
from netcoach.experiments.storage import load
from netcoach.experiments.study import run_study
from netcoach.experiments.study_report import write_study_report
from netcoach.report.browser import find_chromium, screenshot

SECTIONS = ["best", "trials", "history", "curves", "importance", "slices"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> StudySpec:
    runs = tmp_path_factory.mktemp("runs")
    base = netcoach.load_config(overrides={
        "model.name": "mlp", "model.width": "16", "train.epochs": "2", "train.threads": "1",
        "diagnose.preflight": "false", "diagnose.monitor": "false", "report.enabled": "false",
        "log.steps": "false", "run.dir": str(runs)})
    space = from_mapping({"optim.lr": {"log_uniform": [1e-3, 3e-2]}, "model.width": {"int": [8, 32]},
                          "model.activation": {"choice": ["relu", "tanh"]}})
    spec = StudySpec("report", base, space, sampler="random", trials=4, seeds=2)
    run_study(spec)
    # a pruned and a failed trial, as the pruner and a dead worker leave them
    st = load(spec)
    dists = st.trials[0].distributions
    st.add_trial(optuna.create_trial(state=optuna.trial.TrialState.PRUNED, params=st.trials[0].params,
                                     distributions=dists, intermediate_values={1: 0.2},
                                     user_attrs={"pruned_at": 1, "epochs": 1}))
    st.add_trial(optuna.create_trial(state=optuna.trial.TrialState.FAIL, params=st.trials[1].params,
                                     distributions=dists, user_attrs={"fail_reason": "its worker died"}))
    return spec


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_study_report_holds_every_section_and_plot(study):
    path = write_study_report(study)
    html = path.read_text(encoding="utf-8")
    for ident in SECTIONS:
        assert f'<section id="{ident}">' in html, ident
    assert "not drawn" not in html
    images = _images(html)
    assert len(images) == 4  # history, curves, importance, slices
    for data in images:
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and min(im.size) > 60
            low, high = im.convert("L").getextrema()
            assert low < high, "blank plot"
    st = load(study)
    best = st.best_trial
    values = best.user_attrs["values"]
    assert len(values) == 2  # both seeds of the best trial
    from netcoach.report.stats import spread

    assert spread(values).text() in html  # mean ± std over its seeds
    assert 'class="status-skip">pruned<' in html and 'class="status-fail">fail<' in html
    assert "its worker died" in html
    assert html.count("<tr>") >= 6 + 1  # six trials + header in the trials table
    for attr, value in re.findall(r'\b(src|href)="([^"]*)"', html):
        assert value.startswith(("data:", "#")), f"external {attr}: {value[:60]}"
    assert "<script" not in html.lower()


@pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (apt-get install chromium)")
def test_study_report_renders_in_chromium(study, tmp_path):
    path = write_study_report(study)
    result = screenshot(path, tmp_path / "study.png", height=2400)
    assert result.returncode == 0, result.log[-2000:]
    assert result.console == []
    with Image.open(result.screenshot) as im:
        assert im.size == (1280, 2400)
        low, high = im.convert("L").getextrema()
        assert low < high
