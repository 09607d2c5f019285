"""model.init_from: run folders, safetensors and weights-only .pt files, keys matched by name."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError, ModelConfig
from netcoach.models import build_model
from netcoach.transfer import load_pretrained, match_state, read_state_dict

SHAPE = (1, 8, 8)  # the digits images


def _mlp(outputs: int = 10, width: int = 16):
    return build_model(ModelConfig(name="mlp", width=width), SHAPE, outputs)


class _Payload:
    """Unpickling this runs ``open(marker, 'w')``: what a malicious checkpoint does."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_that_needs_code_is_refused_and_nothing_runs(tmp_path, quick_overrides, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"backbone.1.weight": torch.zeros(3), "x": _Payload(str(marker))}, evil)
    runs = tmp_path / "runs"
    code = main(["train", "--model.name", "mlp", "--run.dir", str(runs), "--train.epochs", "1",
                 "--model.init_from", str(evil), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "model.init_from" in err and "pickle that needs code" in err and str(evil) in err
    assert not marker.exists()          # the payload never ran
    assert not runs.exists()            # validation failed before any run folder


def test_renamed_and_reshaped_keys_are_listed(tmp_path):
    source = _mlp(width=16).state_dict()
    source["backbone.9.weight"] = source.pop("backbone.3.weight")     # renamed
    source["backbone.1.bias"] = torch.zeros(7)                        # reshaped
    model = _mlp(width=16)
    fits, report = match_state(model, source, "src")
    assert report.unexpected == ["backbone.9.weight"]
    assert report.missing == ["backbone.3.weight"]
    assert report.mismatched == ["backbone.1.bias: file (7,) vs model (16,)"]
    assert "backbone.1.weight" in fits and "backbone.1.bias" not in fits
    message = report.message()
    for key in ("backbone.9.weight", "backbone.3.weight", "backbone.1.bias"):
        assert key in message


def test_different_number_of_outputs_keeps_a_new_head_and_loads_the_backbone(tmp_path):
    torch.manual_seed(1)
    source = _mlp(outputs=4)
    path = tmp_path / "four.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, path)
    target = _mlp(outputs=10)
    head_before = target.head_layer.weight.detach().clone()
    report = load_pretrained(target, path)
    assert report.head_replaced == "4 -> 10 outputs"
    assert report.missing == [] and report.mismatched == [] and report.unexpected == []
    assert torch.equal(target.backbone[1].weight, source.backbone[1].weight)
    assert torch.equal(target.head_layer.weight, head_before)   # the new head is untouched
    assert target.num_outputs == 10


def test_pt_state_dict_loads_with_weights_only_also_nested(tmp_path):
    source = _mlp()
    path = tmp_path / "w.pth"
    torch.save({"epoch": 3, "state_dict": source.state_dict()}, path)
    state = read_state_dict(path)
    assert set(state) == set(source.state_dict())
    target = _mlp()
    report = load_pretrained(target, path)
    assert len(report.loaded) == len(source.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), source.state_dict().values()))


def test_nothing_but_the_head_fitting_is_an_error(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"features.0.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ConfigError, match="no backbone weight"):
        load_pretrained(_mlp(), path)


@pytest.mark.parametrize("name, expected", [("missing.pt", "does not exist"),
                                            ("w.onnx", "expected a run folder or one of")])
def test_bad_init_from_path_fails_before_a_run_folder(tmp_path, quick_overrides, name, expected):
    bad = tmp_path / name
    if name.endswith(".onnx"):
        bad.write_bytes(b"x")
    cfg = netcoach.load_config(overrides={**quick_overrides, "model.init_from": str(bad)})
    with pytest.raises(ConfigError, match=expected):
        netcoach.train(cfg, progress=False)
    assert not os.path.exists(quick_overrides["run.dir"])


def test_init_from_a_run_folder_starts_from_its_best_weights_and_notes_it(tmp_path, quick_overrides):
    src = netcoach.train(netcoach.load_config(overrides={**quick_overrides, "train.epochs": "2",
                                                        "run.name": "src"}), progress=False)
    best = read_state_dict(src.run_dir)
    cfg = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "1", "run.name": "ft",
                                          "model.init_from": str(src.run_dir),
                                          "transfer.freeze": "backbone"})
    result = netcoach.train(cfg, progress=False)
    # the backbone was frozen for the whole run, so it still equals the source's best weights
    for key in ("backbone.1.weight", "backbone.3.bias"):
        assert torch.equal(result.model.state_dict()[key], best[key])
    assert not torch.equal(result.model.state_dict()["head.fc.weight"], best["head.fc.weight"])
    note = [n for n in result.summary["notes"] if n.startswith("init_from")]
    assert note and f"loaded {len(best)} tensors" in note[0]
    assert result.summary["transfer"]["init_from"]["loaded"] == len(best)
