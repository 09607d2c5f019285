"""The model registry: known parameter counts, one training step per model, options flowing through."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netcoach.config import ModelConfig
from netcoach.models import build_model, count_parameters, models
from netcoach.models.autoencoder import AUTOENCODERS
from netcoach.nn import DirectDropout, DropConnectConv2d, DropConnectLinear, Maxout

# One sample's shape per model; a model added to the registry later gets CIFAR's shape.
INPUT_SHAPES = {"linear": (20,), "mlp": (20,), "cnn": (1, 8, 8), "lenet5": (1, 28, 28),
                "cnn1d": (2, 32), "rnn": (2, 16)}
CLASSES = 5

# The classifier families; the autoencoders (tests/test_tasks_autoencoder.py) reconstruct their inputs.
CLASSIFIERS = [n for n in models.names() if n not in AUTOENCODERS]


def _one_step(model: nn.Module, shape: tuple[int, ...], batch: int = 2) -> torch.Tensor:
    """One SGD step on a random batch; returns the logits of the forward pass."""
    torch.manual_seed(0)
    x, y = torch.randn(batch, *shape), torch.arange(batch) % CLASSES
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    before = [p.detach().clone() for p in model.parameters()]
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    return logits


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_model_trains_one_step_and_outputs_batch_by_classes(name):
    shape = INPUT_SHAPES.get(name, (3, 32, 32))
    model = build_model(ModelConfig(name=name, width=32), shape, CLASSES)
    assert _one_step(model, shape).shape == (2, CLASSES)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(3, *shape)).shape == (3, CLASSES)


@pytest.mark.parametrize("cfg", [ModelConfig(name="resnet", resnet_depth=18),
                                 ModelConfig(name="vgg", vgg_layout="vgg16")], ids=["resnet18", "vgg16"])
def test_large_variants_train_one_step_at_batch_two(cfg):
    model = build_model(cfg, (3, 32, 32), 10)
    assert _one_step(model, (3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("cfg,shape,expected", [
    (ModelConfig(name="lenet5"), (1, 32, 32), 61_706),       # 156 + 2,416 + 48,120 + 10,164 + 850
    (ModelConfig(name="lenet5"), (1, 28, 28), 61_706),       # MNIST, padded to the same field
    (ModelConfig(name="linear"), (3, 32, 32), 30_730),       # 3,072 x 10 + 10, the course's CIFAR classifier
    (ModelConfig(name="resnet", resnet_depth=20), (3, 32, 32), 269_722),    # He et al.: 0.27 M
    (ModelConfig(name="resnet", resnet_depth=56), (3, 32, 32), 853_018),    # He et al.: 0.85 M
    (ModelConfig(name="resnet", resnet_depth=18), (3, 32, 32), 11_173_962),  # 11.2 M
    (ModelConfig(name="resnet9"), (3, 32, 32), 6_573_120),   # Myrtle's ResNet-9: 6.57 M
], ids=["lenet5-32", "lenet5-28", "linear", "resnet20", "resnet56", "resnet18", "resnet9"])
def test_parameter_counts_match_known_values(cfg, shape, expected):
    assert count_parameters(build_model(cfg, shape, 10)) == expected


def test_resnet20_and_18_are_about_the_published_sizes():
    r20 = count_parameters(build_model(ModelConfig(name="resnet", resnet_depth=20), (3, 32, 32), 10))
    r18 = count_parameters(build_model(ModelConfig(name="resnet", resnet_depth=18), (3, 32, 32), 10))
    assert round(r20 / 1e6, 2) == 0.27 and round(r18 / 1e6, 1) == 11.2


def test_vgg_layouts_by_name_and_by_hand():
    vgg11 = build_model(ModelConfig(name="vgg"), (3, 32, 32), 10)
    convs = [m for m in vgg11.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    vgg16 = build_model(ModelConfig(name="vgg", vgg_layout="vgg16"), (3, 32, 32), 10)
    assert sum(isinstance(m, nn.Conv2d) for m in vgg16.modules()) == 13
    custom = build_model(ModelConfig(name="vgg", vgg_layout="8,M,16,M"), (1, 8, 8), 3)
    assert [c.out_channels for c in custom.modules() if isinstance(c, nn.Conv2d)] == [8, 16]
    with pytest.raises(ValueError, match="vgg11, vgg13, vgg16, vgg19"):
        build_model(ModelConfig(name="vgg", vgg_layout="64,X"), (3, 32, 32), 10)


def test_image_models_reject_flat_inputs_and_resnet_rejects_unknown_depths():
    with pytest.raises(ValueError, match="use model.name mlp or linear"):
        build_model(ModelConfig(name="vgg"), (20,), 3)
    with pytest.raises(ValueError, match="20, 32, 44, 56, 110, 18, 34"):
        build_model(ModelConfig(name="resnet", resnet_depth=19), (3, 32, 32), 3)
    with pytest.raises(ValueError, match="maxout"):
        build_model(ModelConfig(name="resnet", activation="maxout"), (3, 32, 32), 3)


@pytest.mark.parametrize("name,shape", [("mlp", (20,)), ("cnn", (1, 8, 8)), ("lenet5", (1, 16, 16)),
                                        ("vgg", (3, 8, 8)), ("resnet9", (3, 8, 8))])
def test_maxout_flows_through_the_models(name, shape):
    cfg = ModelConfig(name=name, activation="maxout", maxout_pieces=3, width=16, width_mult=0.125,
                      vgg_layout="8,M,16,M")
    model = build_model(cfg, shape, CLASSES)
    assert any(isinstance(m, Maxout) for m in model.modules())
    assert _one_step(model, shape).shape == (2, CLASSES)


@pytest.mark.parametrize("name,shape", [("mlp", (20,)), ("cnn", (1, 8, 8)), ("resnet", (3, 8, 8))])
@pytest.mark.parametrize("norm", ["batch", "layer", "group", "instance", "none"])
@pytest.mark.parametrize("position", ["before", "after"])
def test_norms_and_placements_flow_through_the_models(name, shape, norm, position):
    cfg = ModelConfig(name=name, norm=norm, norm_position=position, width=16, width_mult=0.5)
    if norm == "instance" and name == "mlp":
        with pytest.raises(ValueError, match="feature map"):
            build_model(cfg, shape, CLASSES)
        return
    model = build_model(cfg, shape, CLASSES)
    kinds = {type(m).__name__ for m in model.modules()}
    wanted = {"batch": "BatchNorm", "layer": "LayerNorm" if name == "mlp" else "GroupNorm",
              "group": "GroupNorm", "instance": "InstanceNorm2d", "none": None}[norm]
    if wanted is None:
        assert not any("Norm" in k for k in kinds)
    else:
        assert any(k.startswith(wanted) for k in kinds)
    assert _one_step(model, shape).shape == (2, CLASSES)


@pytest.mark.parametrize("mode,layer_type", [("inverted", nn.Dropout), ("direct", DirectDropout),
                                             ("spatial", nn.Dropout2d), ("alpha", nn.FeatureAlphaDropout),
                                             ("dropconnect", DropConnectConv2d)])
def test_dropout_modes_flow_through_the_blocks(mode, layer_type):
    cfg = ModelConfig(name="cnn", width=16, dropout=0.5, block_dropout=0.2, dropout_mode=mode,
                      input_dropout=0.1)
    model = build_model(cfg, (1, 8, 8), CLASSES)
    assert any(isinstance(m, layer_type) for m in model.modules())
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert isinstance(head, DropConnectLinear) == (mode == "dropconnect")
    assert _one_step(model, (1, 8, 8)).shape == (2, CLASSES)


def test_default_models_have_no_dropout_layers():
    for name, shape in [("cnn", (1, 8, 8)), ("mlp", (20,)), ("linear", (20,))]:
        model = build_model(ModelConfig(name=name), shape, CLASSES)
        assert not any("Dropout" in type(m).__name__ for m in model.modules())


def test_gradcheck_of_the_residual_modules_written_here():
    from netcoach.models.resnet import BasicBlock, PadShortcut, Residual, Scale
    from netcoach.nn.blocks import Blocks

    torch.manual_seed(0)
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(PadShortcut(2, 4, 2), (x,))
    assert torch.autograd.gradcheck(Scale(0.125), (x,))
    blocks = Blocks(ModelConfig(activation="tanh", norm="group", norm_groups=2))
    assert torch.autograd.gradcheck(Residual(*blocks.conv(2, 2)).double(), (x,))
    block = BasicBlock(blocks, 2, 4, stride=2, option_a=True).double()
    assert block(x).shape == (2, 4, 2, 2)
    assert torch.autograd.gradcheck(block, (x,))
