"""model.name tv:ARCH / timm:ARCH: torchvision and timm architectures in the model contract.

The errors run always; building the real architectures runs where torchvision (or timm)
is importable and is skipped otherwise (they are an optional extra, not a dependency).
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError, ModelConfig
from netcoach.models import build_model
from netcoach.transfer import load_pretrained

HAS_TV = importlib.util.find_spec("torchvision") is not None
HAS_TIMM = importlib.util.find_spec("timm") is not None
SHAPE = (3, 32, 32)


def test_missing_torchvision_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    with pytest.raises(ConfigError) as err:
        build_model(ModelConfig(name="tv:resnet18"), SHAPE, 4)
    message = str(err.value)
    assert message.startswith("model.name tv:resnet18: needs torchvision, which is not installed")
    assert "netcoach[vision]" in message
    assert "\n" not in message


def test_missing_timm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ConfigError, match=r"needs timm, which is not installed.*netcoach\[vision\]"):
        build_model(ModelConfig(name="timm:resnet18"), SHAPE, 4)


def test_cli_without_torchvision_fails_before_any_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    runs = tmp_path / "runs"
    code = main(["train", "--model.name", "tv:resnet18", "--run.dir", str(runs), "--train.epochs", "1",
                 "--quiet"])
    assert code == 2
    assert "netcoach[vision]" in capsys.readouterr().err
    assert not runs.exists()


def test_unknown_prefix_lists_the_families():
    with pytest.raises(ConfigError, match=r"'hub:resnet18'.*PREFIX one of timm, tv"):
        build_model(ModelConfig(name="hub:resnet18"), SHAPE, 4)


def test_option_the_library_would_ignore_is_refused():
    # torchvision builds its own layers: a non-default model.activation would be silently dropped
    with pytest.raises(ConfigError, match=r"model.activation = 'gelu' does not apply to tv:resnet18"):
        build_model(ModelConfig(name="tv:resnet18", activation="gelu"), SHAPE, 4)


needs_tv = pytest.mark.skipif(not HAS_TV, reason="torchvision is not installed (optional extra 'vision')")
needs_timm = pytest.mark.skipif(not HAS_TIMM, reason="timm is not installed (optional extra 'vision')")


@needs_tv
def test_tv_resnet18_follows_the_model_contract():
    model = build_model(ModelConfig(name="tv:resnet18"), SHAPE, 4)
    assert isinstance(model, netcoach.models.Network)
    assert model.feature_dim == 512 and model.num_outputs == 4
    x = torch.randn(2, *SHAPE)
    assert model(x).shape == (2, 4) and model.features(x).shape == (2, 512)
    keys = set(model.state_dict())
    assert {"backbone.conv1.weight", "head.weight", "head.bias"} <= keys
    assert not any(k.startswith("backbone.fc.") for k in keys)  # the classifier moved to the head


@needs_tv
def test_tv_unknown_architecture_suggests_close_names():
    with pytest.raises(ConfigError, match=r"torchvision has no model 'resnet81'; closest: .*resnet18"):
        build_model(ModelConfig(name="tv:resnet81"), SHAPE, 4)


@needs_tv
def test_torchvision_state_dict_loads_through_init_from(tmp_path):
    import torchvision

    torch.manual_seed(0)
    published = torchvision.models.resnet18(num_classes=1000).eval()  # the layout of published weights
    path = tmp_path / "resnet18.pth"
    torch.save(published.state_dict(), path)

    model = build_model(ModelConfig(name="tv:resnet18"), SHAPE, 4).eval()
    report = load_pretrained(model, path)
    n_backbone = len(published.state_dict()) - 2  # all but fc.weight and fc.bias
    assert len(report.loaded) == n_backbone
    assert report.head_replaced == "1000 -> 4 outputs"
    assert not report.missing and not report.unexpected and not report.mismatched
    # the backbone now computes what the published network computes before its classifier
    published.fc = torch.nn.Identity()
    x = torch.randn(3, *SHAPE)
    with torch.no_grad():
        assert torch.equal(model.features(x), published(x))


@needs_tv
def test_train_with_tv_model_from_a_saved_state_dict(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "r18.pt")
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (48, *SHAPE), generator=gen, dtype=torch.uint8)
    y = torch.arange(48) % 3
    cfg = netcoach.load_config(overrides={
        "model.name": "tv:resnet18", "model.init_from": str(tmp_path / "r18.pt"), "train.epochs": "1",
        "transfer.freeze": "backbone", "run.dir": str(tmp_path / "runs"), "diagnose.preflight": "false",
        "diagnose.monitor": "false", "report.enabled": "false", "data.batch_size": "16"})
    result = netcoach.train(cfg, data=(x.numpy(), y.numpy()), progress=False)
    note = next(n for n in result.summary["notes"] if n.startswith("init_from"))
    assert "loaded 120 tensors" in note and "10 -> 3 outputs" in note
    # the run folder rebuilds the same architecture and weights
    _, again = netcoach.load_run(result.run_dir)
    for key, value in result.model.state_dict().items():
        assert torch.equal(again.state_dict()[key].cpu(), value.cpu()), key


@needs_timm
def test_timm_state_dict_loads_through_init_from(tmp_path):
    import timm

    published = timm.create_model("resnet18", pretrained=False, num_classes=1000).eval()
    torch.save(published.state_dict(), tmp_path / "timm_r18.pth")
    model = build_model(ModelConfig(name="timm:resnet18"), SHAPE, 5).eval()
    report = load_pretrained(model, tmp_path / "timm_r18.pth")
    assert report.head_replaced == "1000 -> 5 outputs" and not report.unexpected and not report.missing
    published.reset_classifier(0)
    x = torch.randn(2, *SHAPE)
    with torch.no_grad():
        assert torch.equal(model.features(x), published(x))
