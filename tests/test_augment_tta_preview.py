"""Test-time augmentation (views, averaging, test_acc_tta) and the augmentation preview PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import netcoach
from netcoach.augment import build_augment
from netcoach.augment.geometric import shift
from netcoach.augment.preview import LABEL_PX, augmented_views, preview_png
from netcoach.augment.tta import config_views, predict_tta, tta_views
from netcoach.cli import main
from netcoach.config import AugmentConfig, DataConfig
from netcoach.data import DeviceLoader, Split, from_arrays
from netcoach.tasks import build_task


def test_views_are_the_configured_ones():
    names = [name for name, _ in tta_views(["hflip", "shift", "hflip_shift", "vflip"], step=2)]
    assert names[:2] == ["identity", "hflip"] and names[-1] == "vflip"
    assert len(names) == 1 + 1 + 4 + 4 + 1
    x = torch.rand(3, 1, 6, 6)
    views = dict(tta_views(["hflip", "shift"], step=1))
    assert torch.equal(views["hflip"](x), x.flip(-1))
    assert torch.equal(views["shift_right"](x), shift(x, torch.zeros(3, dtype=torch.long), torch.ones(3, dtype=torch.long)))
    assert torch.equal(views["shift_right"](x)[..., 1:], x[..., :-1])
    with pytest.raises(ValueError, match="unknown view 'spin'"):
        tta_views(["spin"])


def test_shift_views_fill_the_border_as_the_training_translation():
    x = torch.arange(4.).view(1, 1, 1, 4)
    zero = dict(tta_views(["shift", "hflip_shift"], step=1))
    assert zero["shift_right"](x).flatten().tolist() == [0.0, 0.0, 1.0, 2.0]
    augment = netcoach.load_config(overrides={"augment.transforms": '["translate"]',
                                              "augment.translate_fill": "reflect", "augment.tta_shift": "1",
                                              "augment.tta_views": '["shift", "hflip_shift"]'}).augment
    views = dict(config_views(augment))
    assert views["shift_right"](x).flatten().tolist() == [1.0, 0.0, 1.0, 2.0]  # reflected, as trained
    assert views["hflip_shift_left"](x).flatten().tolist() == [2.0, 1.0, 0.0, 1.0]  # mirror 3 2 1 0, moved left


def test_predict_tta_averages_probabilities_over_views():
    torch.manual_seed(0)
    x = (torch.rand(10, 1, 4, 4) * 255).to(torch.uint8)
    split = Split(x, torch.arange(10) % 3)
    loader = DeviceLoader(split, batch_size=4, scale=255.0, mean=[0.5], std=[0.25])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    views = tta_views(["hflip", "vflip"])
    softmax = build_task("classification").postprocess
    probs = predict_tta(model, loader, views, softmax)
    xf = (x.float() / 255 - 0.5) / 0.25
    expected = sum(model(v).softmax(1) for v in (xf, xf.flip(-1), xf.flip(-2))) / 3
    assert torch.allclose(probs, expected.detach(), atol=1e-6)
    assert torch.allclose(probs.sum(1), torch.ones(10))
    identity = predict_tta(model, loader, tta_views([]), softmax)
    assert torch.allclose(identity, model(xf).softmax(1).detach(), atol=1e-6)


def _tta_run(quick_overrides, views: str):
    overrides = dict(quick_overrides, **{"augment.tta": "true", "augment.tta_views": views,
                                         "augment.tta_shift": "1", "train.epochs": "1"})
    config = netcoach.load_config(overrides=overrides)
    return config, netcoach.train(config, save=False)


def test_tta_with_only_the_identity_view_equals_plain_test_metrics(quick_overrides):
    _, result = _tta_run(quick_overrides, "")
    summary = result.summary["test"]
    assert set(summary) == {"test_loss", "test_acc", "test_loss_tta", "test_acc_tta"}
    assert summary["test_acc_tta"] == summary["test_acc"]
    assert summary["test_loss_tta"] == pytest.approx(summary["test_loss"], rel=1e-5)
    off = netcoach.train(netcoach.load_config(overrides=dict(quick_overrides, **{"train.epochs": "1"})),
                         save=False).summary["test"]
    assert "test_acc_tta" not in off and off["test_acc"] == summary["test_acc"]


def test_hflip_tta_accuracy_is_the_accuracy_of_hand_averaged_probabilities(quick_overrides):
    config, result = _tta_run(quick_overrides, "hflip")
    loader = netcoach.build_trainer(config).loaders["test"]  # the same split and statistics
    model = result.model.eval()
    with torch.no_grad():
        x = loader.prepare(loader.split.x)
        probs = (model(loader.normalize(x)).softmax(1) + model(loader.normalize(x.flip(-1))).softmax(1)) / 2
    labels = loader.split.y.to(probs.device)
    expected = (probs.argmax(1) == labels).double().mean().item()
    assert result.summary["test"]["test_acc_tta"] == pytest.approx(expected, abs=1e-12)
    plain = (model(loader.normalize(x)).argmax(1) == labels).double().mean().item()
    assert result.summary["test"]["test_acc"] == pytest.approx(plain, abs=1e-12)
    assert expected != plain  # the mirror view changes predictions, so the check discriminates


def test_tta_needs_images():
    data = from_arrays(torch.rand(60, 5).numpy(), (torch.arange(60) % 2).numpy(), DataConfig())
    cfg = netcoach.load_config(overrides={"model.name": "linear", "train.epochs": "1", "augment.tta": "true",
                                          "diagnose.preflight": "false", "report.enabled": "false"})
    with pytest.raises(ValueError, match="augment.tta needs image inputs"):
        netcoach.train(cfg, data=data, save=False)


def _bundle():
    x = (torch.rand(12, 3, 10, 10, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    return from_arrays(x.numpy(), (torch.arange(12) % 3).numpy(), DataConfig(), scale=255.0)


def test_preview_png_layout_and_first_column():
    bundle = _bundle()
    cfg = AugmentConfig(transforms=["hflip", "crop"], hflip_p=1.0, crop_padding=2)
    png = preview_png(bundle, cfg, samples=3, views=4)
    image = Image.open(io.BytesIO(png))
    zoom = 7  # ceil(64 / 10): tiles are at least 64 pixels; each row has a label band under it
    assert image.format == "PNG" and image.size == (5 * (10 * zoom + 2) + 2,
                                                    3 * (10 * zoom + LABEL_PX + 8 + 2) + 2)
    pixels = torch.from_numpy(np.asarray(image).copy())
    first = pixels[2:2 + 10 * zoom:zoom, 2:2 + 10 * zoom:zoom].permute(2, 0, 1)  # row 0, column 0
    assert torch.equal(first, bundle.train.x[0])  # samples are evenly spaced: first, middle, last
    x = bundle.train.x[:3].float() / 255
    tiles = augmented_views(x, bundle.train.y[:3], build_augment(cfg), torch.Generator().manual_seed(0), 4)
    assert tiles.shape == (3, 5, 3, 10, 10) and torch.equal(tiles[:, 0], x)
    with pytest.raises(ValueError, match="nothing to preview"):
        preview_png(bundle, AugmentConfig())


def test_preview_cli_and_run_folder(tmp_path, quick_overrides, capsys):
    out = tmp_path / "grid.png"
    assert main(["augment", "preview", "--augment.transforms", "crop,cutout", "--augment.cutout_size", "3",
                 "--out", str(out), "--samples", "4", "--views", "3"]) == 0
    assert Image.open(out).format == "PNG" and "wrote" in capsys.readouterr().out
    assert main(["augment", "preview", "--augment.transforms", "crop,cutot", "--out", str(out)]) == 2
    assert "unknown transform 'cutot'" in capsys.readouterr().err
    overrides = dict(quick_overrides, **{"augment.transforms": "crop", "augment.crop_padding": "1",
                                         "train.epochs": "1", "run.name": "aug"})
    result = netcoach.train(netcoach.load_config(overrides=overrides))
    assert Image.open(result.run_dir / "augment_preview.png").format == "PNG"
    plain = netcoach.train(netcoach.load_config(overrides=dict(overrides, **{"augment.transforms": "[]",
                                                                             "run.name": "plain"})))
    assert not (plain.run_dir / "augment_preview.png").exists()


def test_diagonal_views_are_airbenchs_reflect_padded_crops():
    # airbench94's tta_level 2: reflect-pad by one pixel, take the top-left and the
    # bottom-right crop, of the image and of its mirror
    x = torch.rand(2, 3, 8, 8)
    views = dict(tta_views(["hflip", "diagonal", "hflip_diagonal"], step=1, fill="reflect"))
    assert list(views) == ["identity", "hflip", "diagonal_down_right", "diagonal_up_left",
                           "hflip_diagonal_down_right", "hflip_diagonal_up_left"]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    assert torch.equal(views["diagonal_down_right"](x), padded[:, :, 0:8, 0:8])
    assert torch.equal(views["diagonal_up_left"](x), padded[:, :, 2:10, 2:10])
    mirrored = torch.nn.functional.pad(x.flip(-1), (1, 1, 1, 1), mode="reflect")
    assert torch.equal(views["hflip_diagonal_up_left"](x), mirrored[:, :, 2:10, 2:10])
