"""Prediction for users: ``netcoach.predict`` and ``netcoach predict`` / ``evaluate`` apply the
run's data handling and check the inputs' layout and range against the run."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import netcoach
from netcoach.cli import main
from netcoach.data import DataError
from netcoach.predict import RunInputs, _layout, predict

QUICK = {"model.name": "mlp", "model.width": "32", "train.epochs": "4", "diagnose.preflight": "false",
         "report.enabled": "false"}


def bright_channel_images(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 8, 8) uint8 RGB images whose class is the bright channel."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = (rng.random((n, 3, 8, 8)) * 80).astype(np.uint8)
    x[np.arange(n), y] += 150
    return x, y


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A run trained on uint8 NCHW images (scale 255)."""
    root = tmp_path_factory.mktemp("image_run")
    x, y = bright_channel_images()
    cfg = netcoach.load_config(overrides={**QUICK, "run.dir": str(root), "run.name": "r"})
    result = netcoach.train(cfg, data=(x, y), progress=False)
    return result.run_dir, bright_channel_images(12, seed=1)


def test_float_unit_images_predict_like_their_uint8_originals(image_run):
    run, (x, _) = image_run
    assert json.loads((run / "data.json").read_text())["scale"] == 255.0
    from_uint8 = predict(run, x)
    from_float = predict(run, x.astype(np.float32) / 255.0)  # not divided by 255 a second time
    torch.testing.assert_close(from_float, from_uint8, atol=1e-6, rtol=0)
    with pytest.raises(DataError, match=r"float image inputs must be in \[0, 1\], found values in \[.*, 2\d\d\]; "
                                        r"pass the run's stored values \(0..255 uint8\)"):
        predict(run, x.astype(np.float32))


def test_nhwc_inputs_are_converted_with_a_note_never_read_as_channels(image_run):
    run, (x, _) = image_run
    reference = predict(run, x)
    with pytest.warns(UserWarning, match=r"inputs read as NHWC \(N, 8, 8, 3\) and transposed to the run's NCHW"):
        nhwc = predict(run, x.transpose(0, 2, 3, 1))
    torch.testing.assert_close(nhwc, reference)
    with pytest.raises(DataError, match=r"inputs have shape \(12, 8, 8, 1\), but the run was trained on "
                                        r"\(3, 8, 8\) per sample: pass \(N, 3, 8, 8\) or NHWC \(N, 8, 8, 3\)"):
        predict(run, x[:, :1].transpose(0, 2, 3, 1))


def test_an_input_that_fits_both_layouts_needs_layout():
    spec = RunInputs((3, 3, 3), 255.0, None, None, None)
    x = torch.arange(2 * 27, dtype=torch.uint8).view(2, 3, 3, 3)
    with pytest.raises(ValueError, match=r"fit the run's \(3, 3, 3\) as NCHW and as NHWC; pass layout="):
        _layout(x, spec, "auto")
    converted, notes = _layout(x, spec, "NHWC")
    assert torch.equal(converted, x.permute(0, 3, 1, 2)) and notes
    assert torch.equal(_layout(x, spec, "NCHW")[0], x)


def test_image_files_folders_and_pil_images_predict_like_the_arrays(image_run, tmp_path, capsys):
    run, (x, _) = image_run
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    paths = []
    for i, img in enumerate(x):
        path = folder / ("sub" if i % 2 else "") / f"{i:02d}.png"  # PNG: lossless
        Image.fromarray(img.transpose(1, 2, 0)).save(path)
        paths.append(path)
    reference = predict(run, x)
    pil = [Image.open(p) for p in paths]
    torch.testing.assert_close(predict(run, pil), reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(predict(run, [str(p) for p in paths]), reference, atol=1e-6, rtol=0)
    assert main(["predict", str(run), str(folder), "--out", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv", dtype={"prediction": str})
    order = [paths.index(type(paths[0])(p)) for p in table["input"]]  # the folder is read sorted
    assert sorted(order) == list(range(len(x)))
    np.testing.assert_allclose(table[["prob_0", "prob_1", "prob_2"]].to_numpy(), reference.numpy()[order],
                               atol=1e-6)
    assert list(table["prediction"]) == [str(i) for i in reference.numpy()[order].argmax(1)]
    # A bigger image is resized to the run's size, with a note on stderr.
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "big.png")
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "big.png")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("input,prediction,prob_0") and "1 images resized to the run's 8x8" in err


def test_npz_input_and_evaluate_on_an_npz(image_run, tmp_path, capsys):
    run, (x, y) = image_run
    np.savez(tmp_path / "new.npz", x=x, y=y)
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "new.npz")]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    probs = predict(run, x).numpy()
    np.testing.assert_allclose(table[["prob_0", "prob_1", "prob_2"]].to_numpy(), probs, atol=1e-6)
    assert main(["evaluate", str(run), "--data.name", "npz", "--data.path", str(tmp_path / "new.npz"),
                 "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["eval_acc"] == pytest.approx(float(np.mean(probs.argmax(1) == y)))
    loss = torch.nn.functional.nll_loss(torch.log(torch.from_numpy(probs).double()), torch.from_numpy(y)).item()
    assert metrics["eval_loss"] == pytest.approx(loss, abs=1e-5)
    assert main(["evaluate", str(run), "--optim.lr", "0.1"]) == 2
    assert "optim.lr: evaluate takes only data.* options" in capsys.readouterr().err


def test_digits_run_takes_stored_values_or_unit_floats(tmp_path, quick_overrides):
    """scale 16: uint8 inputs are 0..16 stored values, float inputs are those divided by 16."""
    cfg = netcoach.load_config(overrides={**quick_overrides, "train.epochs": "1"})
    result = netcoach.train(cfg, progress=False)
    stored = result.data.test.x[:20].cpu().numpy()
    torch.testing.assert_close(predict(result.run_dir, stored.astype(np.float32) / 16.0),
                               predict(result.run_dir, stored), atol=1e-6, rtol=0)
    assert main(["evaluate", str(result.run_dir), "--split", "test"]) == 0  # the run's own data


def test_predict_cli_errors_are_one_line(image_run, tmp_path, capsys):
    run, _ = image_run
    assert main(["predict", str(run), str(tmp_path / "nothing.png")]) == 2
    assert "nothing.png not found" in capsys.readouterr().err
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY")
    assert main(["predict", str(run), str(tmp_path / "x.npy")]) == 2
    assert "x.npy: unsupported input .npy; give image files (.png" in capsys.readouterr().err
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    assert main(["predict", str(run), str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the run was not trained on a CSV" in err
