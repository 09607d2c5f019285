"""The model contract over the whole registry: backbone, head, replace_head, features."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import netcoach
from netcoach.config import ModelConfig
from netcoach.data.loader import DeviceLoader
from netcoach.diagnose.checks import last_leaf
from netcoach.models import (ModelContractError, Network, as_network, build_model, has_contract,
                             missing_contract, models, summarize)
from netcoach.models.autoencoder import AUTOENCODERS
from netcoach.models.network import head_layer
from netcoach.models.resnet import Scale
from netcoach.nn import DropConnectLinear
from netcoach.report.records import first_conv_weight

# Flat inputs for the dense models, (C, L) signals for the 1-D ones, images for the conv ones
# (CIFAR's shape for any later entry).
INPUT_SHAPES = {"linear": (20,), "mlp": (20,), "cnn": (1, 8, 8), "lenet5": (1, 28, 28),
                "cnn1d": (2, 32), "rnn": (2, 16)}
CLASSES = 5

# The classifier families; the autoencoders (tests/test_tasks_autoencoder.py) reconstruct their inputs.
CLASSIFIERS = [n for n in models.names() if n not in AUTOENCODERS]


def _build(name: str, **options) -> Network:
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, width=32, width_mult=0.25, dropout=0.2, **options)
    return build_model(cfg, _shape(name), CLASSES)


def _shape(name: str) -> tuple[int, ...]:
    return INPUT_SHAPES.get(name, (3, 32, 32))


def _batch(name: str, n: int = 3) -> torch.Tensor:
    return torch.randn(n, *_shape(name), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_registered_model_is_a_network_with_the_contract(name):
    model = _build(name)
    assert isinstance(model, Network) and has_contract(model) and missing_contract(model) == []
    assert isinstance(model.backbone, nn.Module) and isinstance(model.head, nn.Module)
    assert as_network(model) is model


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_features_are_batch_by_feature_dim_and_forward_is_head_of_features(name):
    model = _build(name).eval()
    x = _batch(name)
    with torch.no_grad():
        feats, out = model.features(x), model(x)
        assert feats.shape == (3, model.feature_dim)
        assert out.shape == (3, CLASSES)
        assert torch.equal(model.head(feats), out)  # bit-exact: the same ops in the same order


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_head_holds_exactly_the_parameters_of_the_last_linear(name):
    model = _build(name)
    last_linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    head_ids = {id(p) for p in model.head.parameters()}
    assert head_ids == {id(p) for p in last_linear.parameters()}
    assert head_layer(model.head) is last_linear
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    assert not head_ids & backbone_ids
    assert head_ids | backbone_ids == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_replace_head_gives_new_output_size_and_keeps_the_backbone(name):
    model = _build(name)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    old_fc = model.head_layer
    new_head = model.replace_head(3)
    assert model.head is new_head and model.head_layer is not old_fc
    assert model.num_outputs == 3 and model.head_layer.in_features == old_fc.in_features
    assert (model.head_layer.bias is None) == (old_fc.bias is None)
    after = model.backbone.state_dict()  # parameters and BN statistics
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    x = _batch(name, 2)
    out = model.train()(x)
    assert out.shape == (2, 3)
    nn.functional.cross_entropy(out, torch.tensor([0, 2])).backward()
    assert model.head_layer.weight.grad is not None  # the new head is part of the graph


def test_replace_head_initialises_with_the_model_init_scheme():
    torch.manual_seed(0)
    cfg = ModelConfig(name="mlp", width=32, init="normal", init_std=1e-3, bias_init="constant",
                      bias_value=0.25)
    model = build_model(cfg, (64,), 10)
    fc = model.replace_head(200)[-1]
    assert torch.all(fc.bias == 0.25)
    assert fc.weight.std().item() == pytest.approx(1e-3, rel=0.05)  # 6,400 draws of N(0, 1e-6)
    default = build_model(ModelConfig(name="mlp", width=32), (64,), 10)
    bound = 1 / 32 ** 0.5  # PyTorch's Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert default.replace_head(200)[-1].weight.abs().max() <= bound


def test_replace_head_keeps_dropout_dropconnect_scale_and_bias_setting():
    model = _build("mlp")
    assert isinstance(model.replace_head(4).dropout, nn.Dropout)
    drop_connect = _build("mlp", dropout_mode="dropconnect")
    fc = drop_connect.replace_head(4).fc
    assert isinstance(fc, DropConnectLinear) and fc.p == 0.2
    r9 = _build("resnet9").eval()
    head = r9.replace_head(7)
    assert isinstance(head.scale, Scale) and head.fc.bias is None
    feats = r9.features(_batch("resnet9", 2))
    assert torch.allclose(r9.head(feats), 0.125 * (feats @ head.fc.weight.T))


def test_replace_head_follows_the_seed_and_the_device_mode():
    a, b = _build("cnn"), _build("cnn")
    torch.manual_seed(5)
    a.replace_head(3)
    torch.manual_seed(5)
    b.eval().replace_head(3)
    assert torch.equal(a.head_layer.weight, b.head_layer.weight)
    assert not b.head_layer.training  # a model in eval mode gets a head in eval mode


def test_replace_head_refuses_a_non_positive_size():
    with pytest.raises(ValueError, match="num_outputs >= 1"):
        _build("linear").replace_head(0)


def test_layer_names_in_summary_and_checks_are_module_paths():
    model = _build("cnn")
    names = [row["name"] for row in summarize(model, (1, 8, 8))["layers"]]
    assert names[0] == "backbone.0" and names[-2:] == ["head.dropout", "head.fc"]
    assert last_leaf(model) is model.head_layer  # preflight's output-layer check sees the classifier
    assert isinstance(last_leaf(_build("resnet9")), Scale)


def test_report_finds_the_first_conv_filters_under_the_backbone(tmp_path):
    model = _build("cnn")
    (tmp_path / "checkpoints").mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(tmp_path / "checkpoints" / "best.safetensors"))
    name, weight = first_conv_weight(tmp_path, [])
    assert name == "backbone.0.weight" and weight.shape == tuple(model.backbone[0].weight.shape)


def test_as_network_splits_a_sequential_before_its_last_linear():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 3),
                        nn.LogSoftmax(dim=1))
    net = as_network(seq)
    assert isinstance(net, Network) and net.feature_dim == 4
    assert [type(m) for m in net.head] == [nn.Dropout, nn.Linear, nn.LogSoftmax]
    assert {id(p) for p in net.parameters()} == {id(p) for p in seq.parameters()}  # a view
    x = torch.randn(5, 6)
    assert torch.equal(net.eval()(x), seq.eval()(x))
    assert net.replace_head(9)(net.features(x)).shape == (5, 9)


def test_as_network_refuses_a_module_without_the_contract_and_says_what_is_missing():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    assert missing_contract(Custom()) == ["backbone", "head", "features", "replace_head"]
    with pytest.raises(ModelContractError, match=r"transfer learning needs .* \(Custom\) has no "
                       r"`backbone`, `head`.*netcoach\.models\.Network\(backbone, head\)"):
        as_network(Custom(), purpose="transfer learning")
    with pytest.raises(ModelContractError, match="last layer with parameters is BatchNorm1d"):
        as_network(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))


def test_a_head_with_more_than_one_layer_breaks_the_contract():
    net = Network(nn.Flatten(), nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)))
    with pytest.raises(ModelContractError, match="exactly one nn.Linear.*Linear, Linear"):
        net.replace_head(3)


def test_build_model_refuses_a_builder_that_returns_a_plain_module(monkeypatch):
    monkeypatch.setitem(models._items, "plain", lambda cfg, shape, n: nn.Linear(shape[0], n))
    with pytest.raises(ModelContractError, match="'plain' returned a Linear.*Network"):
        build_model(ModelConfig(name="plain"), (4,), 2)


def test_trained_mlp_features_feed_a_logistic_regression(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "2",
                                          "run.dir": str(tmp_path), "diagnose.preflight": "false",
                                          "report.enabled": "false"})
    result = netcoach.train(cfg)
    data, model = result.data, result.model.eval()

    def features(split):
        loader = DeviceLoader(split, 256, data.scale, data.mean, data.std)
        with torch.no_grad():
            return torch.cat([model.features(x) for x, _ in loader]).numpy(), split.y.numpy()

    (x_train, y_train), (x_test, y_test) = features(data.train), features(data.test)
    assert x_train.shape == (len(data.train), model.feature_dim)
    # One BLAS thread: after torch has run, OpenBLAS threads next to torch's OpenMP pool make
    # this 0.15 s fit take ~30 s on two cores.
    with threadpool_limits(1):
        classifier = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    # The network's own head reaches ~0.87 after 2 epochs; a refit linear classifier on its
    # features does at least as well, which shows the features carry the class information.
    assert classifier.score(x_test, y_test) >= result.summary["test"]["test_acc"] - 0.01
    assert classifier.score(x_test, y_test) > 0.9
