"""[augment] validation, the [loss] section's label smoothing, and the pipeline's fusion."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import netcoach
from netcoach.augment import build_augment, transforms
from netcoach.augment.geometric import IntegerMoves
from netcoach.augment.pipeline import fuse
from netcoach.config import AugmentConfig, Config, ConfigError, apply_overrides
from netcoach.tasks import Classification, build_task


def test_unknown_transform_lists_names_and_parameters():
    with pytest.raises(ConfigError) as err:
        apply_overrides(Config(), {"augment.transforms": "hflip,flipp"})
    text = str(err.value)
    assert "unknown transform 'flipp'" in text
    for name in transforms:
        assert name in text
    assert "crop (crop_p, crop_padding, crop_fill)" in text and "gridmask_r" in text


@pytest.mark.parametrize("key, value, message", [
    ("augment.hflip_p", "1.5", r"augment.hflip_p: a probability must be in \[0, 1\]"),
    ("augment.gridmask_r", "1.0", r"augment.gridmask_r: the kept edge ratio must be in \(0, 1\)"),
    ("augment.mixup_alpha", "0", "Beta"),
    ("augment.affine_scale_min", "2.0", "scale_min <= scale_max"),
    ("augment.crop_fill", "mirror", "choose one of: zero, reflect"),
    ("augment.tta_views", "hflip,rot", "unknown view 'rot'; valid: hflip, vflip, shift, hflip_shift"),
])
def test_bad_values_fail_at_load_time(key, value, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), {key: value})


def test_label_smoothing_hand_computed():
    """logits (ln 3, 0) -> p = (0.75, 0.25). eps = 0.2, K = 2: hard target 0 becomes
    q = (0.9, 0.1): L = -(0.9 ln 0.75 + 0.1 ln 0.25) = 0.397543; soft (0.5, 0.5) stays
    (0.5, 0.5): L = -(ln 0.75 + ln 0.25) / 2 = 0.836988."""
    logits = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)
    task = build_task("classification", label_smoothing=0.2)
    assert task.loss(logits, torch.tensor([0])).item() == pytest.approx(0.397543, abs=1e-6)
    soft = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    assert task.loss(logits, soft).item() == pytest.approx(0.836988, abs=1e-6)
    assert Classification().loss(logits, torch.tensor([0])).item() == pytest.approx(-math.log(0.75))
    with pytest.raises(ValueError, match="loss.label_smoothing"):
        Classification(label_smoothing=1.0)


def test_fused_pipeline_is_bit_identical_to_step_by_step():
    names = ["hflip", "crop", "vflip", "translate", "cutout", "gridmask", "brightness", "hflip", "crop"]
    cfg = dataclasses.replace(AugmentConfig(), transforms=names, hflip_p=0.5, vflip_p=0.5,
                              crop_fill="reflect", translate_max=0.2, cutout_p=0.7)
    runs = fuse([transforms.get(n).from_config(cfg) for n in names])
    assert [type(r).__name__ for r in runs] == ["IntegerMoves", "Brightness", "IntegerMoves"]
    assert len(runs[0].steps) == 4 and len(runs[0].erasers) == 2
    x = torch.rand(32, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    y = torch.arange(32) % 10
    fused, _ = build_augment(cfg)(x, y, torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    step_by_step = x
    for name in names:  # each transform on its own: its apply() copies the batch once
        step_by_step, _ = transforms.get(name).from_config(cfg)(step_by_step, y, g)
    assert torch.equal(fused, step_by_step)
    assert isinstance(runs[0], IntegerMoves)


def test_training_with_augmentation_and_soft_targets(quick_overrides):
    overrides = dict(quick_overrides, **{"augment.transforms": "crop,mixup,cutmix",
                                         "augment.crop_padding": "1", "loss.label_smoothing": "0.1"})
    result = netcoach.train(netcoach.load_config(overrides=overrides), save=False)
    assert len(result.history) == 3 and math.isfinite(result.history[-1]["train_loss"])
    assert result.history[-1]["val_acc"] > 0.5  # learning from soft targets, not noise (10 classes)


def test_config_transform_table_matches_the_registered_transforms():
    # config validates augment.transforms from its own table (config must not import
    # augment); the table must name exactly the registered transforms and their fields.
    from netcoach.augment.base import transforms
    from netcoach.config.augment_rules import TRANSFORM_FIELDS

    assert sorted(TRANSFORM_FIELDS) == sorted(transforms)
    for name, fields in TRANSFORM_FIELDS.items():
        assert fields == transforms.get(name).params, name


def test_config_does_not_import_augment():
    from test_imports import import_graph

    graph = import_graph()
    config_deps = {d for m, deps in graph.items() if m.startswith("netcoach.config") for d in deps}
    assert not {d for d in config_deps if d.startswith("netcoach.augment")}
