"""``netcoach evaluate`` and ``netcoach predict`` take an ensemble folder like a run: the
metrics and predictions are those of the members' averaged probabilities."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from netcoach.cli import main
from netcoach.ensemble import build_ensemble
from netcoach.predict import evaluate, predict

from helpers.runs import train_small_member


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    parent = tmp_path_factory.mktemp("members")
    runs = [train_small_member(parent, s) for s in (0, 1, 2)]
    return build_ensemble(runs, weights=[1, 1, 2], name="ens", out_dir=parent), runs


def test_evaluate_on_the_test_split_gives_the_ensembles_test_metrics(ensemble):
    result, _ = ensemble
    metrics = evaluate(result.path, split="test")
    assert metrics["eval_acc"] == pytest.approx(result.summary["ensemble"]["test_acc"])
    assert metrics["eval_loss"] == pytest.approx(result.summary["ensemble"]["test_loss"], rel=1e-5)
    # and on every split it is not a member's score
    everything = evaluate(result.path)
    members = [evaluate(m["path"]) for m in result.summary["members"]]
    assert all(everything["eval_loss"] != pytest.approx(m["eval_loss"]) for m in members)


def test_evaluate_cli_prints_the_ensembles_metrics(ensemble, capsys):
    result, _ = ensemble
    assert main(["evaluate", str(result.path), "--split", "test", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["eval_acc"] == pytest.approx(result.summary["ensemble"]["test_acc"])


def test_predict_cli_writes_the_weighted_mean_of_the_members_probabilities(ensemble, tmp_path, capsys):
    result, runs = ensemble
    x = np.random.default_rng(0).integers(0, 17, size=(7, 1, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "x.npz", x=x)
    out = tmp_path / "p.csv"
    assert main(["predict", str(result.path), str(tmp_path / "x.npz"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    members = [predict(r, x) for r in runs]
    expected = (members[0] + members[1] + 2 * members[2]) / 4
    probs = torch.tensor(table[[c for c in table.columns if c.startswith("p_")]].to_numpy())
    assert probs.shape == (7, 10)
    torch.testing.assert_close(probs, expected.double(), atol=1e-5, rtol=0)
    assert (table["prediction"].astype(str).tolist()
            == [str(i) for i in expected.argmax(1).tolist()])


def test_evaluate_an_ensemble_with_a_missing_member_is_one_line(ensemble, tmp_path, capsys):
    result, runs = ensemble
    copy = tmp_path / "copy"
    shutil.copytree(result.path.parent, copy)
    shutil.rmtree(copy / runs[1].name)
    assert main(["evaluate", str(copy / "ens")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "s1" in err


def test_asking_an_ensemble_for_other_weights_than_it_was_built_from_is_refused(ensemble, capsys):
    result, _ = ensemble
    assert main(["evaluate", str(result.path), "--which", "last"]) == 2
    err = capsys.readouterr().err
    assert "--which last: the ensemble" in err and "best weights" in err and "--which last` for those" in err
