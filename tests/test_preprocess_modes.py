"""``data.normalize`` modes: mean image, PCA, ZCA (whole inputs and patches), fitted on the
training split, stored in the run folder and applied alike by the loader, predict and export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

import netcoach
from netcoach.config import Config, ConfigError, DataConfig, apply_overrides, load_toml
from netcoach.data import build_data, build_loaders
from netcoach.data.base import DataBundle, Split
from netcoach.predict import evaluate, predict


def _bundle(x: torch.Tensor, scale: float = 1.0) -> DataBundle:
    """A bundle whose training split is ``x`` (val/test: its first rows, shifted)."""
    y = torch.arange(len(x)) % 2
    other = Split(x[:50] + (0.5 if x.is_floating_point() else 0), y[:50])
    return DataBundle("synthetic", Split(x, y), other, other, 2, ["a", "b"], scale=scale)


def _fit(bundle: DataBundle, **data) -> DataBundle:
    cfg = apply_overrides(Config(), {f"data.{k}": str(v) for k, v in data.items()})
    return build_data(cfg, torch.device("cpu"), bundle)


def _correlated(n: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Gaussian samples mixed by a random matrix: strongly correlated, full rank."""
    gen = torch.Generator().manual_seed(seed)
    d = int(np.prod(shape))
    mix = torch.randn(d, d, generator=gen) / d ** 0.5 + torch.eye(d)
    return (torch.randn(n, d, generator=gen) @ mix + 3.0).reshape(n, *shape)


def _cov(z: torch.Tensor) -> torch.Tensor:
    z = z.double() - z.double().mean(0)
    return z.T @ z / len(z)


def test_zca_makes_the_training_covariance_the_identity_and_keeps_the_image_shape():
    x = _correlated(4000, (3, 4, 4))
    raw_cov = _cov(x.flatten(1))
    assert (raw_cov - torch.eye(48, dtype=torch.float64)).abs().max() > 0.5  # far from white before
    bundle = _fit(_bundle(x), normalize="zca", zca_epsilon=1e-6)
    z = bundle.normalizer(bundle.train.x)
    assert z.shape == x.shape and bundle.model_input_shape == (3, 4, 4)
    assert (_cov(z.flatten(1)) - torch.eye(48, dtype=torch.float64)).abs().max() < 1e-3
    assert z.mean(0).abs().max() < 1e-4  # centered with the training mean


def test_zca_epsilon_damps_the_low_variance_directions():
    x = _correlated(4000, (12,))
    white = _cov(_fit(_bundle(x), normalize="zca", zca_epsilon=1e-6).normalizer(x))
    damped = _cov(_fit(_bundle(x), normalize="zca", zca_epsilon=1.0).normalizer(x))
    # every eigenvalue lambda becomes lambda / (lambda + eps) < 1
    assert torch.linalg.eigvalsh(white).min() > 0.999
    assert torch.linalg.eigvalsh(damped).max() < 0.999


def test_patch_zca_whitens_every_patch_like_airbench_and_shrinks_the_image():
    x = _correlated(600, (2, 6, 6))
    bundle = _fit(_bundle(x), normalize="zca", zca_patch=2, zca_epsilon=1e-6)
    z = bundle.normalizer(x)
    assert bundle.model_input_shape == (8, 5, 5) and z.shape == (600, 8, 5, 5)
    channels = z.permute(0, 2, 3, 1).reshape(-1, 8)  # one row per patch position
    assert (_cov(channels) - torch.eye(8, dtype=torch.float64)).abs().max() < 1e-3
    # ZCA, not PCA: channel i of patch position p is patch value i made white, so it stays
    # correlated with that raw value (the first patch value is channel 0, row 0, column 0)
    raw = x[:, 0, :5, :5].reshape(-1)
    corr = torch.corrcoef(torch.stack([raw, z[:, 0].reshape(-1)]))[0, 1]
    assert corr > 0.3


def test_pca_with_a_variance_fraction_keeps_what_sklearn_keeps():
    bundle = netcoach.from_arrays(*_digits(), DataConfig(), name="digits", scale=16.0)
    fitted = _fit(bundle, normalize="pca", pca_variance=0.9)
    train = bundle.train.x.double().div(16.0).flatten(1).numpy()
    reference = PCA(n_components=0.9, svd_solver="full").fit(train)
    k = reference.n_components_
    assert fitted.model_input_shape == (k,) and fitted.normalizer.params["components"] == k
    assert fitted.normalizer.params["explained_variance"] == pytest.approx(
        reference.explained_variance_ratio_.sum(), abs=1e-9)
    projected = fitted.normalizer(bundle.val.x.float() / 16.0).numpy()
    expected = reference.transform(bundle.val.x.double().div(16.0).flatten(1).numpy())
    # components are defined up to sign
    signs = np.sign((projected * expected).sum(0))
    assert np.abs(projected * signs - expected).max() < 1e-4


def test_pca_with_a_component_count_gives_that_many_inputs():
    bundle = netcoach.from_arrays(*_digits(), DataConfig(), name="digits", scale=16.0)
    fitted = _fit(bundle, normalize="pca", pca_components=7)
    assert fitted.model_input_shape == (7,) and "variance" not in fitted.normalizer.params
    z = fitted.normalizer(bundle.train.x.float() / 16.0)
    var = z.double().var(0, unbiased=False)
    assert torch.all(var[:-1] >= var[1:])  # largest variance first


def test_mean_image_subtracts_the_training_mean_image():
    bundle = netcoach.from_arrays(*_digits(), DataConfig(), name="digits", scale=16.0)
    fitted = _fit(bundle, normalize="mean_image")
    mean_image = bundle.train.x.double().div(16.0).mean(0)  # (1, 8, 8): one value per pixel
    val = bundle.val.x.float() / 16.0
    assert torch.allclose(fitted.normalizer(val), (val.double() - mean_image).float(), atol=1e-6)
    assert fitted.normalizer(bundle.train.x.float() / 16.0).mean(0).abs().max() < 1e-6
    assert fitted.mean is None  # no per-channel standardization on top
    loader = build_loaders(Config(), fitted)["val"]
    x, _ = next(iter(loader))
    assert torch.allclose(x, fitted.normalizer(bundle.val.x[:len(x)].float() / 16.0))


def test_statistics_come_from_the_training_split_only():
    x = _correlated(400, (6,))
    bundle = _bundle(x)
    bundle.val.x.add_(100.0)  # far-off validation data must not move the fit
    fitted = _fit(bundle, normalize="mean_image")
    assert torch.allclose(fitted.normalizer.mean[0], x.mean(0), atol=1e-5)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.uint8)[:, None], d.target.astype(np.int64)


MODES = [("per_channel", {}, "cnn"), ("mean_image", {}, "cnn"), ("pca", {"data.pca_variance": "0.95"}, "mlp"),
         ("zca", {}, "cnn"), ("zca", {"data.zca_patch": "2", "data.zca_epsilon": "1e-3"}, "cnn")]


@pytest.mark.parametrize("mode,extra,model", MODES, ids=["per_channel", "mean_image", "pca", "zca", "zca-patch"])
def test_each_mode_round_trips_through_predict_on_raw_inputs(tmp_path, quick_overrides, mode, extra, model):
    cfg = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "1", "model.name": model,
                                          "model.width": "16", "data.normalize": mode, **extra})
    result = netcoach.train(cfg)
    record = json.loads((result.run_dir / "data.json").read_text())
    assert record["normalize"]["mode"] == mode
    assert (result.run_dir / "normalize.safetensors").is_file() == (mode != "per_channel")
    test = result.data.test
    probs = predict(result.run_dir, test.x.cpu().numpy())  # raw stored values 0..16
    loader = build_loaders(cfg, result.data)["test"]
    with torch.no_grad():
        ref = torch.cat([result.model.eval()(x).softmax(1) for x, _ in loader])
    assert torch.allclose(probs, ref, atol=1e-5)
    # float [0, 1] inputs give the same answers as their stored originals
    assert torch.allclose(predict(result.run_dir, test.x.cpu().numpy() / 16.0), probs, atol=1e-5)
    scores = evaluate(result.run_dir, split="test")
    assert scores["eval_acc"] == pytest.approx(result.summary["test"]["test_acc"])


def test_onnx_with_preprocessing_applies_patch_zca_as_predict_does(tmp_path, quick_overrides):
    ort = pytest.importorskip("onnxruntime")
    from netcoach.export import export_run

    cfg = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "1", "model.name": "cnn",
                                          "model.width": "8", "data.normalize": "zca", "data.zca_patch": "2"})
    result = netcoach.train(cfg)
    exported = export_run(result.run_dir, "onnx", tmp_path / "m.onnx", with_preprocessing=True,
                          probabilities=True)
    raw = result.data.test.x.cpu().numpy()
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: raw})[0]
    assert np.abs(out - predict(result.run_dir, raw).numpy()).max() < 1e-4
    card = exported.card.read_text()
    assert "data.normalize zca" in card and "patch 2" in card


@pytest.mark.parametrize("overrides,message", [
    ({"data.normalize": "pca", "data.pca_variance": "1.5"}, r"data.pca_variance: must be <= 1 and > 0, got 1.5"),
    ({"data.normalize": "pca", "data.pca_variance": "0"}, r"data.pca_variance: must be <= 1 and > 0, got 0.0"),
    ({"data.normalize": "pca", "data.pca_variance": "0.9", "data.pca_components": "3"}, r"give one of them"),
    ({"data.normalize": "zca", "data.pca_components": "3"}, r"data.pca_components: applies to data.normalize pca"),
    ({"data.zca_patch": "2"}, r"data.zca_patch 2: applies to data.normalize zca, not 'per_channel'"),
    ({"data.normalize": "whiten"}, r"choose one of: per_channel, mean_image, pca, zca, none"),
], ids=["fraction-above-1", "fraction-0", "both-sizes", "pca-size-with-zca", "patch-without-zca", "unknown"])
def test_bad_normalize_values_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), overrides)


def test_modes_that_cannot_apply_are_refused_before_any_run_folder(tmp_path, quick_overrides):
    base = {**quick_overrides, "train.epochs": "1"}
    cases = [({"data.normalize": "zca", "data.zca_patch": "2", "data.name": "wine"},
              r"data.zca_patch 2: patch whitening needs images"),
             ({"data.normalize": "pca", "data.pca_components": "65"}, r"at most min\(training samples, input values\)"),
             ({"data.normalize": "zca", "data.zca_patch": "9"}, r"larger than the 8x8 images")]
    for extra, message in cases:
        with pytest.raises(ConfigError, match=message):
            netcoach.train(netcoach.load_config(overrides={**base, **extra}))
    assert not (tmp_path / "runs").exists()


def test_pca_with_an_image_model_names_the_mode_and_the_alternatives_before_any_run_folder(tmp_path,
                                                                                           quick_overrides):
    config = netcoach.load_config(overrides={**quick_overrides, "model.name": "cnn", "data.normalize": "pca",
                                             "data.pca_components": "10"})
    with pytest.raises(ConfigError) as info:
        netcoach.train(config)
    message = str(info.value)
    assert message.startswith("data.normalize pca: gives inputs of shape (10,) instead of (1, 8, 8)")
    assert "model.name cnn cannot take" in message and "needs image inputs (C, H, W)" in message
    assert message.endswith("use a model for such inputs, or keep cnn with data.normalize per_channel, "
                            "mean_image, zca, none") and "model.name mlp or linear" in message
    assert not (tmp_path / "runs").exists()


def test_full_zca_on_large_inputs_points_to_patch_whitening():
    x = torch.zeros(4, 3, 64, 64, dtype=torch.uint8)
    with pytest.raises(ConfigError, match=r"12288 values.*use data.zca_patch 2"):
        _fit(_bundle(x, 255.0), normalize="zca")


def test_the_old_boolean_spelling_loads_from_a_saved_run_and_is_refused_in_a_new_config(tmp_path):
    old = tmp_path / "config.toml"
    old.write_text("[data]\nnormalize = false\n")  # a run folder written before the modes
    assert load_toml(old, saved=True).data.normalize == "none"
    old.write_text("[data]\nnormalize = true\n")
    assert load_toml(old, saved=True).data.normalize == "per_channel"
    with pytest.raises(ConfigError, match=r"'false' is the old spelling of 'none'"):
        apply_overrides(Config(), {"data.normalize": "false"})


def test_the_stored_fit_reloads_exactly_and_a_refit_is_bit_identical(tmp_path, quick_overrides):
    """A resume rebuilds the data and refits: the fit must be deterministic, and the
    stored tensors (safetensors, no pickle) must be the ones training used."""
    from netcoach.train.run import RunFolder

    cfg = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "1", "model.name": "cnn",
                                          "model.width": "8", "data.normalize": "zca"})
    result = netcoach.train(cfg)
    used = result.data.normalizer.state_dict()
    stored = RunFolder(result.run_dir).normalizer().state_dict()
    refit = build_data(cfg, torch.device("cpu")).normalizer.state_dict()
    assert used.keys() == stored.keys() == refit.keys() == {"mean", "matrix"}
    for key in used:
        assert torch.equal(used[key].cpu(), stored[key]) and torch.equal(used[key].cpu(), refit[key])
