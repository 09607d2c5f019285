"""ONNX export of every registry model, checked independently in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

import netcoach
from netcoach.data import from_arrays
from netcoach.export import export_run
from netcoach.models import models
from netcoach.models.autoencoder import AUTOENCODERS
from netcoach.predict import prepare_inputs

# Tiny versions of each family; those that need larger images train on random uint8 ones.
TINY = {
    "linear": ({}, None),
    "mlp": ({"model.width": "16"}, None),
    "cnn": ({"model.width": "8"}, None),
    "lenet5": ({"model.width_mult": "0.25"}, (1, 28, 28)),
    "resnet": ({"model.resnet_depth": "20", "model.width_mult": "0.25"}, (3, 32, 32)),
    "resnet9": ({"model.width_mult": "0.125"}, (3, 32, 32)),
    "vgg": ({"model.width_mult": "0.125"}, (3, 32, 32)),
    "cnn1d": ({"model.width": "8"}, (2, 32)),     # signals (C, L)
    "rnn": ({"model.width": "8"}, (2, 16)),
}
DEFAULT = ({"model.width_mult": "0.125"}, (3, 32, 32))  # a model added later gets CIFAR's shape


def train_tiny(name: str, root) -> netcoach.RunResult:
    """One epoch of ``name`` on digits, or on random uint8 images of the shape it needs."""
    options, shape = TINY.get(name, DEFAULT)
    cfg = netcoach.load_config(overrides={
        "model.name": name, "train.epochs": "1", "run.dir": str(root), "run.name": name,
        "diagnose.preflight": "false", "report.enabled": "false", **options})
    data = None
    if shape is not None:
        gen = np.random.default_rng(0)
        x = gen.integers(0, 256, size=(60, *shape), dtype=np.uint8)
        data = from_arrays(x, np.arange(60) % 3, cfg.data, scale=255.0)
    return netcoach.train(cfg, data=data)


# The classifiers; an autoencoder's export is tested in tests/test_tasks_autoencoder_runs.py.
@pytest.mark.parametrize("name", [n for n in models.names() if n not in AUTOENCODERS])
def test_onnx_runtime_matches_pytorch_for_every_registry_model(name, tmp_path):
    result = train_tiny(name, tmp_path / "runs")
    exported = export_run(result.run_dir, "onnx")
    assert exported.path == result.run_dir / "export" / "onnx" / "model.onnx"
    assert exported.check.passed and exported.check.samples > 0

    _, model = netcoach.load_run(result.run_dir)
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"      # dynamic batch dimension
    assert session.get_inputs()[0].type == "tensor(float)"
    gen = torch.Generator().manual_seed(1)
    for batch in (1, 7):
        raw = (torch.rand(batch, *result.data.input_shape, generator=gen) * result.data.scale)
        x = prepare_inputs(raw.to(result.data.train.x.dtype), exported_record(result))
        got = session.run(["output"], {"input": x.numpy()})[0]
        with torch.no_grad():
            expected = model(x).numpy()
        assert got.shape == (batch, result.data.num_classes)
        assert np.abs(got - expected).max() <= 1e-4


def exported_record(result: netcoach.RunResult) -> dict:
    from netcoach.predict import load_normalization

    return load_normalization(result.run_dir)
