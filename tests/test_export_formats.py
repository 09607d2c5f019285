"""Export with preprocessing, torch.export and safetensors round trips, model cards, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch

import netcoach
from netcoach.cli import main
from netcoach.export import CARD, ExportCheckError, export_run, load_exported
from netcoach.predict import load_normalization, predict, prepare_inputs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A digits CNN trained for one epoch (real test samples for the checks)."""
    root = tmp_path_factory.mktemp("export")
    cfg = netcoach.load_config(overrides={
        "model.name": "cnn", "model.width": "8", "train.epochs": "1", "run.dir": str(root),
        "run.name": "digits", "diagnose.preflight": "false", "report.enabled": "false"})
    return netcoach.train(cfg)


def test_onnx_with_preprocessing_takes_raw_uint8_and_matches_netcoach_predict(run, tmp_path, capsys):
    out = tmp_path / "digits.onnx"
    rc = main(["export", str(run.run_dir), "--format", "onnx", "--with-preprocessing",
               "--probabilities", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "onnxruntime vs PyTorch on test split of digits" in printed and "max abs difference" in printed
    raw = run.data.test.x.cpu()                                 # stored uint8 values 0..16
    assert raw.dtype == torch.uint8
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    probs = session.run(["output"], {"input": raw.numpy()})[0]
    expected = predict(run.run_dir, raw).numpy()
    assert np.abs(probs - expected).max() <= 1e-5
    assert (probs.argmax(1) == expected.argmax(1)).all()
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_torch_export_round_trip_gives_the_same_outputs(run):
    result = export_run(run.run_dir, "torch-export")
    assert result.path.name == "model.pt2" and result.check.runtime == "torch.export"
    program = torch.export.load(str(result.path))       # the file this test's run just wrote
    x = prepare_inputs(run.data.test.x.cpu(), load_normalization(run.run_dir))
    _, model = netcoach.load_run(run.run_dir)
    with torch.no_grad():
        assert torch.allclose(program.module()(x[:5]), model(x[:5]), atol=1e-6)   # batch is dynamic
        assert torch.allclose(program.module()(x[:1]), model(x[:1]), atol=1e-6)


def test_torch_export_with_preprocessing_takes_stored_values(run, tmp_path):
    result = export_run(run.run_dir, "torch-export", tmp_path, with_preprocessing=True,
                        probabilities=True)
    assert result.path == tmp_path / "model.pt2"
    raw = run.data.test.x.cpu()[:9]
    with torch.no_grad():
        probs = torch.export.load(str(result.path)).module()(raw)
    assert torch.allclose(probs, predict(run.run_dir, raw), atol=1e-6)


def test_safetensors_export_rebuilds_from_its_two_files(run, tmp_path):
    result = export_run(run.run_dir, "safetensors", tmp_path / "w.safetensors")
    side = json.loads((tmp_path / "w.json").read_text())
    assert side["input_shape"] == [1, 8, 8] and side["num_outputs"] == side["num_classes"] == 10
    assert side["preprocessing"]["scale"] == 16.0 and side["preprocessing"]["dtype"] == "torch.uint8"
    assert side["config"]["model"]["width"] == 8
    shutil.copytree(tmp_path, tmp_path.parent / "moved")   # nothing else of the run is needed
    rebuilt = load_exported(tmp_path.parent / "moved" / "w.safetensors")
    _, model = netcoach.load_run(run.run_dir)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    assert set(result.files) == {tmp_path / "w.safetensors", tmp_path / "w.json", tmp_path / CARD}


def test_model_card_names_task_classes_input_metrics_config_and_loading(run, tmp_path):
    result = export_run(run.run_dir, "onnx", tmp_path, with_preprocessing=True)
    card = result.card.read_text()
    test_acc = json.loads((run.run_dir / "summary.json").read_text())["test"]["test_acc"]
    assert result.card == tmp_path / CARD
    assert "- Task: classification" in card and "- Classes (10): 0, 1, 2, 3" in card
    assert "- Input: `uint8`, shape (N, 1, 8, 8)" in card
    assert "x / 16 (stored value -> [0, 1]), then (x - mean) / std" in card and "folded into the graph" in card
    assert f"- test_acc: {test_acc:.4f}" in card
    assert "- `model.width` = `8`" in card and "- `train.epochs` = `1`" in card
    assert "model.name" not in card                       # cnn is the default: not listed
    assert 'ort.InferenceSession("model.onnx"' in card and "dtype=np.uint8" in card


def test_a_check_over_the_tolerance_fails_and_leaves_no_file(run, tmp_path, monkeypatch, capsys):
    import netcoach.export as export

    real = export.run_onnx  # ONNX Runtime's outputs, shifted by 1e-3
    monkeypatch.setattr(export, "run_onnx", lambda data, x: real(data, x) + 1e-3)
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportCheckError, match=r"max abs difference 0.001 \(tolerance 0.0001\)"):
        export_run(run.run_dir, "onnx", out)
    assert main(["export", str(run.run_dir), "--format", "onnx", "--out", str(out)]) == 1
    assert "export check failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []                 # neither the file nor a temp file
    # a looser tolerance accepts the same difference
    assert export_run(run.run_dir, "onnx", out, tolerance=1e-2).path.is_file()


@pytest.mark.parametrize("args,message", [
    (["--format", "tflite"], "unknown export format 'tflite'; valid: onnx, torch-export, safetensors"),
    (["--format", "onnx", "--which", "middle"], "unknown checkpoint 'middle'; valid: best, last"),
    (["--format", "safetensors", "--with-preprocessing"], "apply to onnx and torch-export"),
])
def test_bad_export_options_exit_2_with_one_line(run, capsys, args, message):
    assert main(["export", str(run.run_dir), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_run_or_weights_exit_2(run, tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--format", "onnx"]) == 2
    assert "not a netcoach run folder (no config.toml)" in capsys.readouterr().err
    copy = tmp_path / "copy"
    shutil.copytree(run.run_dir, copy, ignore=shutil.ignore_patterns("export"))
    (copy / "checkpoints" / "best.safetensors").unlink()
    assert main(["export", str(copy), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "the run has no best weights" in err and "valid --which: best, last" in err
    assert not (copy / "export").exists()


@pytest.mark.parametrize("record,shape", [
    ({"scale": 255.0, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "input_shape": [3, 4, 4]}, (3, 4, 4)),
    ({"scale": 1.0, "mean": None, "std": None, "input_shape": [6]}, (6,)),   # data.normalize = none
], ids=["uint8-images", "flat-floats"])
def test_the_folded_preprocessing_equals_netcoach_predicts(record, shape):
    from netcoach.export.wrap import Preprocess

    x = torch.randint(0, 256, (5, *shape), dtype=torch.uint8) if len(shape) == 3 else torch.randn(5, *shape)
    folded = Preprocess(record["scale"], record["mean"], record["std"], len(shape))(x)
    assert torch.allclose(folded, prepare_inputs(x, record), atol=1e-6)


def test_export_of_the_last_checkpoint_uses_those_weights(run, tmp_path):
    result = export_run(run.run_dir, "safetensors", tmp_path, which="last")
    _, last = netcoach.load_run(run.run_dir, which="last")
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_exported(result.path)(x), last(x))
    assert "exported from the run's `last` weights" in result.card.read_text()
