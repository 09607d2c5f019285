"""``netcoach data info`` and ``netcoach.predict`` (reusing the run's normalization)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from netcoach.cli import main
from netcoach.predict import predict
from tests.test_data_folder import make_folder


def test_data_info_folder_json_and_warnings(tmp_path, capsys):
    root = make_folder(tmp_path / "imgs", per_class=6)
    make_folder(tmp_path / "imgs", classes=("cat",), per_class=14)  # cat: 14 images, others 6
    # an exact duplicate spread over the splits by the stratified split
    for i in range(6):
        (root / "dog" / f"{i:03d}.png").write_bytes((root / "eel" / f"{i:03d}.png").read_bytes())
    rc = main(["data", "info", str(root), "--json", "--data.cache_dir", str(tmp_path / "c")])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["classes"] == ["cat", "dog", "eel"] and s["input_shape"] == [3, 8, 8] and s["channels"] == 3
    assert sum(s["sizes"].values()) == 26 and len(s["mean"]) == 3
    assert any("class imbalance: 'cat'" in w for w in s["warnings"])
    assert any("also occur in train" in w for w in s["warnings"])


def test_data_info_table_and_errors(tmp_path, capsys):
    assert main(["data", "info", "digits"]) == 0
    out = capsys.readouterr().out
    assert "digits: 10 classes, input 1x8x8" in out and "train mean" in out
    assert main(["data", "info", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'imagenet'; available: cifar10, cifar100, csv, " in err and "npz" in err
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.txt").write_text("x")
    assert main(["data", "info", str(flat)]) == 2
    assert "no class sub-folders" in capsys.readouterr().err


def test_bad_file_cli_exit_code(tmp_path, capsys):
    root = make_folder(tmp_path / "imgs")
    (root / "cat" / "000.png").write_bytes(b"garbage")
    assert main(["data", "info", str(root), "--data.cache_dir", str(tmp_path / "c")]) == 2
    assert "cat/000.png: cannot decode image" in capsys.readouterr().err
    assert main(["data", "info", str(root), "--data.cache_dir", str(tmp_path / "c"),
                 "--data.skip_bad", "true"]) == 0
    assert "1 unreadable files skipped" in capsys.readouterr().out


def test_predict_reuses_run_normalization(tmp_path, quick_overrides):
    import netcoach
    from netcoach.data import build_loaders

    cfg = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "2", "run.name": "r"})
    result = netcoach.train(cfg)
    record = json.loads((result.run_dir / "data.json").read_text())
    assert record["scale"] == 16.0 and len(record["mean"]) == 1
    test = result.data.test
    probs = predict(result.run_dir, test.x.cpu().numpy())  # raw stored values, 0..16
    assert probs.shape == (len(test), 10) and torch.allclose(probs.sum(1), torch.ones(len(test)))
    # identical to the trained model on the training loader's normalized batches
    loader = build_loaders(cfg, result.data)["test"]
    with torch.no_grad():
        ref = torch.cat([result.model.eval()(x).softmax(1) for x, _ in loader])
    assert torch.allclose(probs, ref, atol=1e-5)
    assert predict(result.run_dir, test.x[0]).shape == (1, 10)  # one image without a batch dim
    with pytest.raises(ValueError, match=r"trained on \(1, 8, 8\)"):
        predict(result.run_dir, np.zeros((2, 3, 8, 8), np.uint8))
