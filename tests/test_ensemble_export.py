"""``netcoach export`` of an ensemble folder: one ONNX graph holding every member, checked in
ONNX Runtime against PyTorch, answering with the members' weighted mean prediction."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from netcoach.cli import main
from netcoach.ensemble import build_ensemble
from netcoach.export import export_run
from netcoach.predict import predict

from helpers.runs import train_small_member


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    parent = tmp_path_factory.mktemp("members")
    runs = [train_small_member(parent, s) for s in (0, 1)]
    return build_ensemble(runs, weights=[3, 1], name="ens", out_dir=parent).path, runs


def _raw(n: int) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 17, size=(n, 1, 8, 8)).astype(np.uint8)


def test_onnx_of_an_ensemble_gives_the_weighted_mean_of_member_probabilities(ensemble, tmp_path):
    path, runs = ensemble
    result = export_run(path, "onnx", tmp_path / "ens.onnx", with_preprocessing=True, probabilities=True)
    assert result.check.passed and result.check.origin.startswith("test split")
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x = _raw(9)
    got = torch.from_numpy(session.run(["output"], {"input": x})[0]).double()
    members = [predict(r, x).double() for r in runs]
    torch.testing.assert_close(got, 0.75 * members[0] + 0.25 * members[1], atol=1e-5, rtol=0)
    assert got[0].sum().item() == pytest.approx(1.0, abs=1e-5)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(result.path)).metadata_props}
    assert meta["ensemble_members"] == ["s0", "s1"] and meta["output"] == "probabilities"
    card = result.card.read_text()
    assert "the weighted mean of 2 member runs' `best` weights: s0, s1" in card
    summary = json.loads((path / "summary.json").read_text())
    assert f"test_acc: {summary['ensemble']['test_acc']:.4f}" in card


def test_onnx_of_an_ensemble_without_probabilities_gives_log_mean_probabilities(ensemble, tmp_path):
    path, _ = ensemble
    result = export_run(path, "onnx", tmp_path / "ens.onnx")  # inputs normalized, outputs log p
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x = _raw(4)
    record = json.loads((ensemble[1][0] / "data.json").read_text())
    normalized = (x.astype(np.float32) / record["scale"] - np.float32(record["mean"][0])) / np.float32(record["std"][0])
    got = session.run(["output"], {"input": normalized.astype(np.float32)})[0]
    np.testing.assert_allclose(np.exp(got), predict(path, x).numpy(), atol=1e-5)


def test_ensemble_export_refuses_safetensors_and_other_weights_in_one_line(ensemble, tmp_path, capsys):
    path, _ = ensemble
    assert main(["export", str(path), "--format", "safetensors", "--out", str(tmp_path / "w.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is an ensemble folder" in err and "onnx or torch-export" in err
    assert main(["export", str(path), "--format", "onnx", "--which", "last", "--out", str(tmp_path / "l.onnx")]) == 2
    assert "--which last: the ensemble" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_export_cli_writes_an_ensembles_onnx_and_card(ensemble, tmp_path, capsys):
    path, _ = ensemble
    assert main(["export", str(path), "--format", "onnx", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime vs PyTorch on test split" in out
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "model_card.md").is_file()
