"""The autoencoder models (encoder = backbone) and whole runs: train, report, predict, evaluate,
and a classifier initialised from the autoencoder's encoder with model.init_from."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from torch import nn

import netcoach
from tests.helpers.interrupt import InterruptAt
from netcoach.api import build_trainer
from netcoach.cli import main
from netcoach.config import ModelConfig
from netcoach.models import build_model
from netcoach.predict import evaluate, predict, prediction_table
from netcoach.train.checkpoint import load_weights

DIGITS = (1, 8, 8)


def _model(name: str, shape=DIGITS, **options):
    torch.manual_seed(0)
    return build_model(ModelConfig(name=name, **options), shape, int(np.prod(shape)))


def test_mlp_ae_encoder_has_the_names_and_shapes_of_the_mlp_backbone():
    ae = _model("mlp_ae", width=32, depth=2, input_dropout=0.2, dropout=0.5)
    clf = build_model(ModelConfig(name="mlp", width=32, depth=2), DIGITS, 10)
    assert {k: v.shape for k, v in ae.backbone.state_dict().items()} == \
        {k: v.shape for k, v in clf.backbone.state_dict().items()}
    assert ae.feature_dim == 32 and ae.num_outputs == 64
    x = torch.rand(5, *DIGITS)
    assert ae.eval()(x).shape == (5, 64) and ae.features(x).shape == (5, 32)
    # input dropout sits outside the encoder and acts in training only
    assert not any(isinstance(m, nn.Dropout) for m in ae.backbone)
    assert torch.equal(ae.eval()(x), ae.head(ae.backbone(x)))
    ae.train()
    dropped = ae.corrupt(torch.ones(1000, 64))
    assert 0.1 < float((dropped == 0).float().mean()) < 0.3


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_cnn_ae_reconstructs_every_input_value_and_shares_cnn_conv_names(shape):
    ae = _model("cnn_ae", shape, width=32)
    x = torch.rand(2, *shape)
    assert ae.eval()(x).shape == (2, int(np.prod(shape)))
    assert ae.features(x).shape == (2, 32)
    cnn = build_model(ModelConfig(name="cnn", width=32), shape, 10).backbone.state_dict()
    own = ae.backbone.state_dict()
    convs = [k for k in cnn if k in own]
    assert convs and all(own[k].shape == cnn[k].shape for k in convs)
    assert all(k in own for k in cnn)  # every conv/BN tensor of the cnn classifier has its twin


def test_replace_head_turns_the_autoencoder_into_a_classifier_on_the_code():
    ae = _model("mlp_ae", width=16, depth=1)
    before = {k: v.clone() for k, v in ae.backbone.state_dict().items()}
    head = ae.replace_head(10)
    assert ae.head is head and isinstance(ae.head_layer, nn.Linear) and ae.head_layer.in_features == 16
    assert ae(torch.rand(3, *DIGITS)).shape == (3, 10) and ae.num_outputs == 10
    assert all(torch.equal(before[k], v) for k, v in ae.backbone.state_dict().items())


def test_a_model_summary_of_an_autoencoder_counts_every_layer():
    from netcoach.models import count_parameters, summarize

    model = _model("cnn_ae", (1, 28, 28), width=32)
    summary = summarize(model, (1, 28, 28))
    assert summary["output_shape"] == [784] and summary["total_params"] == count_parameters(model)


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("ae")
    cfg = netcoach.load_config(overrides={"task.name": "autoencoder", "model.name": "mlp_ae", "model.depth": "1",
                                          "model.width": "32", "train.epochs": "3", "run.dir": str(runs)})
    return netcoach.train(cfg).run_dir


def test_an_autoencoder_run_records_reconstructions_and_reports_them(ae_run):
    summary = json.loads((ae_run / "summary.json").read_text())
    test = summary["test"]
    assert test["test_loss"] == pytest.approx(test["test_mse"], rel=1e-6)  # mse loss = mse metric
    kept = load_file(str(ae_run / "predictions.safetensors"))
    assert kept["reconstructions"].shape == (64, 1, 8, 8) and kept["labels"].shape == (64, 1, 8, 8)
    assert float(kept["errors"].mean()) == pytest.approx(test["test_mse"], rel=1e-5)
    psnr = float(np.mean(-10 * np.log10(np.maximum(kept["errors"], 1e-10))))
    assert psnr == pytest.approx(test["test_psnr"], rel=1e-4)
    assert "reconstruction error" in summary["doctor"][0]["evidence"]
    html = (ae_run / "report.html").read_text()
    assert "Reconstructions" in html and "Learned features" in html and "Confusion matrix" not in html
    assert "backbone.1.weight, reshaped to 8x8" in html  # the first layer, drawn as 8x8 images
    for png in ("reconstructions.png", "features.png"):
        assert (ae_run / "plots" / png).stat().st_size > 1000


def test_predict_gives_reconstructions_and_evaluate_the_reconstruction_error(ae_run):
    from sklearn.datasets import load_digits

    x = load_digits().images[:5].astype(np.uint8).reshape(5, 1, 8, 8)
    recon = predict(ae_run, x)
    assert recon.shape == (5, 1, 8, 8)
    table, _ = prediction_table(ae_run, x)
    want = ((recon.reshape(5, -1).double() - torch.from_numpy(x.reshape(5, -1)).double() / 16) ** 2).mean(1)
    assert np.allclose(table["reconstruction_mse"], want.numpy(), rtol=1e-4)
    assert list(table.columns[:3]) == ["input", "reconstruction_mse", "value_0"]
    summary = json.loads((ae_run / "summary.json").read_text())
    metrics = evaluate(ae_run, {}, split="test")
    assert set(metrics) == {"eval_loss", "eval_mse", "eval_psnr"}
    assert metrics["eval_mse"] == pytest.approx(summary["test"]["test_mse"], rel=1e-4)


def test_init_from_an_autoencoder_gives_a_classifier_its_encoder_and_a_new_head(ae_run, tmp_path):
    overrides = {"model.name": "mlp", "model.depth": "1", "model.width": "32", "train.epochs": "2",
                 "model.init_from": str(ae_run), "run.dir": str(tmp_path), "report.enabled": "false"}
    trainer = build_trainer(netcoach.load_config(overrides=overrides))
    encoder = load_weights(ae_run / "checkpoints" / "best.safetensors")
    report = trainer.transfer.report
    assert sorted(report.loaded) == ["backbone.1.bias", "backbone.1.weight"]
    assert report.missing == [] and report.unexpected == [] and report.mismatched == []
    assert report.head_replaced.endswith("-> 10 outputs")
    own = trainer.model.state_dict()
    assert torch.equal(own["backbone.1.weight"], encoder["backbone.1.weight"])
    result = netcoach.train(netcoach.load_config(overrides=overrides))
    assert result.summary["test"]["test_acc"] > 0.5  # fine-tuned for classification
    assert any("new head" in n for n in result.summary["notes"])


def test_cli_train_and_predict_an_autoencoder(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--task.name", "autoencoder", "--model.name", "mlp_ae", "--model.width", "16",
                 "--train.epochs", "1", "--run.dir", str(runs), "--quiet", "--report.enabled", "false"]) == 0
    run = next(runs.iterdir())
    from sklearn.datasets import load_digits

    np.savez(tmp_path / "x.npz", x=load_digits().images[:3].astype(np.uint8).reshape(3, 1, 8, 8))
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "x.npz")]) == 0
    out = capsys.readouterr().out
    assert "reconstruction_mse" in out


def test_a_denoising_autoencoder_resumes_mid_epoch_bit_exactly(tmp_path):
    torch.set_num_threads(1)
    base = {"task.name": "autoencoder", "model.name": "mlp_ae", "model.width": "16", "model.depth": "1",
            "model.input_dropout": "0.2", "augment.transforms": "noise", "augment.noise_std": "0.2",
            "train.epochs": "2", "run.dir": str(tmp_path), "diagnose.preflight": "false",
            "report.enabled": "false"}
    whole = netcoach.train(netcoach.load_config(overrides={**base, "run.name": "whole"})).run_dir
    config = netcoach.load_config(overrides={**base, "run.name": "cut"})
    cut = netcoach.train(config, callbacks=[InterruptAt(25)]).run_dir  # mid epoch 2 (17 batches each)
    netcoach.train(resume=cut)
    for name in ("best.safetensors", "last.safetensors"):
        a, b = load_weights(whole / "checkpoints" / name), load_weights(cut / "checkpoints" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = lambda run: [{k: v for k, v in json.loads(line).items() if k not in ("epoch_time", "samples_per_s")}  # noqa: E731
                        for line in (run / "metrics.jsonl").read_text().splitlines()]
    a, b = rows(whole), rows(cut)
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]  # per-step losses: exact
    assert [r["val_mse"] for r in a] == [r["val_mse"] for r in b]        # the same weights evaluated
    # the trainer scores training batches in chunks, and the interrupted epoch's chunks end
    # elsewhere: float sums (mse, psnr) agree to float64 rounding, not bit for bit
    assert a == [pytest.approx(r, rel=1e-12) for r in b]


def test_features_of_an_autoencoder_are_its_code_and_its_decoder_is_not_scored_as_a_classifier(ae_run, capsys):
    capsys.readouterr()
    assert main(["features", str(ae_run), "--classifier", "logreg"]) == 0
    out = capsys.readouterr().out
    assert "train 1077x32" in out and "test: logreg 0." in out and "network head" not in out


def test_an_autoencoder_exports_to_onnx_with_its_reconstructions_checked(ae_run):
    import onnxruntime as ort

    from netcoach.export import export_run

    exported = export_run(ae_run, "onnx")
    assert exported.check.passed and exported.check.samples > 0
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    x = torch.rand(3, *DIGITS)
    _, model = netcoach.load_run(ae_run)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == (3, 64) and np.abs(got - expected).max() <= 1e-4
