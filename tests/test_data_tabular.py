"""Tabular and array data: the csv source (column kinds, fills, one-hot, standardization,
class names, stored preprocessing, errors naming the column), the npz source, and user
arrays (layout and value range recognised or refused)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError, DataConfig
from netcoach.data import DataError, datasets, from_arrays, from_splits
from netcoach.data.tabular import TabularPreprocessing
from netcoach.predict import predict

QUICK = {"model.name": "mlp", "model.width": "32", "train.epochs": "30", "optim.lr": "0.01",
         "train.monitor": "val_loss",
         "train.mode": "min", "diagnose.preflight": "false", "report.enabled": "false"}


def write_table(path, n=240, seed=0):
    """String labels from two numeric columns and a colour; ``b`` is numbers stored as text
    (quoted, with spaces); ``a`` and ``colour`` have empty cells."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    score = 2 * a - 2 * b + 3 * (colour == "red")
    label = np.where(score > 1.5, "high", np.where(score < -1.0, "low", "mid"))
    frame = pd.DataFrame({"a": a.round(3), "b": [f" {v:.3f}" for v in b], "colour": colour,
                          "label": label}).astype(object)
    frame.loc[rng.choice(n, 12, replace=False), "a"] = None
    frame.loc[rng.choice(n, 9, replace=False), "colour"] = None
    frame.to_csv(path, index=False, quoting=1)  # QUOTE_ALL: every number is text in the file
    return frame


def csv_config(path, **extra):
    return DataConfig(name="csv", path=str(path), target=["label"], **extra)


def test_csv_columns_are_typed_filled_one_hot_and_standardized_with_training_rows(tmp_path):
    frame = write_table(tmp_path / "t.csv")
    bundle = datasets.get("csv")(csv_config(tmp_path / "t.csv"))
    prep = bundle.info["preprocessing"]
    kinds = {f["name"]: f["kind"] for f in prep["features"]}
    assert kinds == {"a": "numeric", "b": "numeric", "colour": "categorical"}  # b: text that parses
    assert prep["columns"] == ["a", "a__missing", "b", "colour=blue", "colour=green", "colour=red",
                               "colour__missing"]
    assert bundle.class_names == ["high", "low", "mid"] and prep["target"]["classes"] == bundle.class_names
    assert bundle.input_shape == (7,) and bundle.train.x.dtype == torch.float32
    # Which rows are training rows: the stratified split, reproduced from the labels.
    from netcoach.data.splits import three_way
    y = frame["label"].map({"high": 0, "low": 1, "mid": 2}).to_numpy()
    tr, _, _ = three_way(y, 0.2, 0.2, 0, True)
    a_train = pd.to_numeric(frame["a"].iloc[tr])
    spec = {f["name"]: f for f in prep["features"]}
    assert spec["a"]["fill"] == pytest.approx(a_train.median())  # median of the training rows only
    filled = a_train.fillna(a_train.median())
    assert bundle.mean[0] == pytest.approx(filled.mean()) and bundle.std[0] == pytest.approx(filled.std(ddof=0))
    assert bundle.mean[3:] == [0.0] * 4 and bundle.std[3:] == [1.0] * 4  # one-hot columns stay 0/1
    colours = frame["colour"].iloc[tr].dropna()
    assert spec["colour"]["fill"] == colours.value_counts().idxmax()
    # A row with an empty colour: filled with the most frequent one, indicator set.
    row = int(np.flatnonzero(frame["colour"].iloc[tr].isna().to_numpy())[0])
    x = bundle.train.x[row].numpy()
    assert x[6] == 1.0 and x[3 + ["blue", "green", "red"].index(spec["colour"]["fill"])] == 1.0


def test_csv_train_save_and_cli_predict_reproduce_the_api_predictions(tmp_path, capsys):
    """The must-show path: string labels, a categorical column, missing values and numbers
    stored as text; train, then `netcoach predict RUN new.csv` equals netcoach.predict."""
    write_table(tmp_path / "train.csv")
    new = write_table(tmp_path / "new_full.csv", n=30, seed=7).drop(columns=["label"])
    new.to_csv(tmp_path / "new.csv", index=False)
    cfg = netcoach.load_config(overrides={**QUICK, "data.name": "csv", "data.path": str(tmp_path / "train.csv"),
                                          "data.target": "label", "run.dir": str(tmp_path / "runs"),
                                          "run.name": "r"})
    result = netcoach.train(cfg, progress=False)
    run = result.run_dir
    assert json.loads((run / "preprocessing.json").read_text())["target"]["classes"] == ["high", "low", "mid"]
    assert json.loads((run / "data.json").read_text())["class_names"] == ["high", "low", "mid"]
    assert result.summary["test"]["test_acc"] > 0.8  # the rule is learnable: chance is ~1/3
    api = predict(run, tmp_path / "new.csv").numpy()
    assert api.shape == (30, 3)
    assert main(["predict", str(run), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv")
    assert list(table.columns) == ["input", "prediction", "prob_high", "prob_low", "prob_mid"]
    np.testing.assert_allclose(table[["prob_high", "prob_low", "prob_mid"]].to_numpy(), api, atol=1e-6)
    assert list(table["prediction"]) == [["high", "low", "mid"][i] for i in api.argmax(1)]
    # A DataFrame of the same rows (typed by pandas, not text) predicts the same.
    np.testing.assert_allclose(predict(run, pd.read_csv(tmp_path / "new.csv")).numpy(), api, atol=1e-6)
    # evaluate on the labelled file: the same accuracy as predict's argmax against the labels
    full = pd.read_csv(tmp_path / "new_full.csv")
    probs = predict(run, full).numpy()
    expected = float(np.mean(np.array(["high", "low", "mid"])[probs.argmax(1)] == full["label"].to_numpy()))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data.path", str(tmp_path / "new_full.csv"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["eval_acc"] == pytest.approx(expected)


def test_csv_test_rows_through_predict_match_the_trained_model(tmp_path):
    frame = write_table(tmp_path / "t.csv")
    cfg = netcoach.load_config(overrides={**QUICK, "train.epochs": "2", "data.name": "csv",
                                          "data.path": str(tmp_path / "t.csv"), "data.target": "label",
                                          "run.dir": str(tmp_path / "runs")})
    result = netcoach.train(cfg, progress=False)
    from netcoach.data import build_loaders
    loader = build_loaders(cfg, result.data)["test"]
    with torch.no_grad():
        ref = torch.cat([result.model.eval()(x).softmax(1) for x, _ in loader])
    from netcoach.data.splits import three_way
    y = frame["label"].map({"high": 0, "low": 1, "mid": 2}).to_numpy()
    _, _, te = three_way(y, 0.2, 0.2, 0, True)
    rows = pd.read_csv(tmp_path / "t.csv", dtype=str).iloc[te]
    torch.testing.assert_close(predict(result.run_dir, rows), ref, atol=1e-5, rtol=1e-5)


def test_csv_missing_target_column_names_the_column(tmp_path):
    write_table(tmp_path / "t.csv", n=20)
    with pytest.raises(DataError, match=r"t.csv: target column 'price' \(data.target\) is not in the file; "
                                        r"columns: a, b, colour, label"):
        datasets.get("csv")(DataConfig(name="csv", path=str(tmp_path / "t.csv"), target=["price"]))
    with pytest.raises(ConfigError, match="data.target: name the target column"):
        datasets.get("csv")(DataConfig(name="csv", path=str(tmp_path / "t.csv")))


def test_csv_empty_file_and_header_only_file_are_errors_naming_the_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv: empty file"):
        datasets.get("csv")(csv_config(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("a,b,label\n")
    with pytest.raises(DataError, match=r"header.csv: empty file \(a header with columns a, b, label but no rows\)"):
        datasets.get("csv")(csv_config(tmp_path / "header.csv"))


def test_csv_column_that_cannot_be_numeric_names_the_column_and_value(tmp_path, capsys):
    frame = write_table(tmp_path / "t.csv", n=40)
    frame.loc[5, "b"] = "1,5"  # a decimal comma: neither a number nor a category
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad.csv: column 'b' cannot be numeric: value '1,5' in data row 6"):
        datasets.get("csv")(csv_config(tmp_path / "bad.csv"))
    rc = main(["train", "--data.name", "csv", "--data.path", str(tmp_path / "bad.csv"), "--data.target", "label",
               "--run.dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "column 'b' cannot be numeric" in err
    assert not (tmp_path / "runs").exists()  # validated before any run folder is written
    # Listing it as categorical is the documented way out.
    bundle = datasets.get("csv")(csv_config(tmp_path / "bad.csv", categorical=["b"]))
    assert {f["name"]: f["kind"] for f in bundle.info["preprocessing"]["features"]}["b"] == "categorical"


def test_unseen_category_at_prediction_is_a_one_line_error_naming_the_column(tmp_path, capsys):
    write_table(tmp_path / "t.csv", n=90)
    cfg = netcoach.load_config(overrides={**QUICK, "train.epochs": "1", "data.name": "csv",
                                          "data.path": str(tmp_path / "t.csv"), "data.target": "label",
                                          "run.dir": str(tmp_path / "runs"), "run.name": "r"})
    run = netcoach.train(cfg, progress=False).run_dir
    pd.DataFrame({"a": [0.1], "b": ["0.2"], "colour": ["purple"]}).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(DataError, match=r"column 'colour' has category 'purple' that the run never saw"):
        predict(run, tmp_path / "new.csv")
    assert main(["predict", str(run), str(tmp_path / "new.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "column 'colour'" in err and "known: blue, green, red" in err
    pd.DataFrame({"a": [0.1], "colour": ["red"]}).to_csv(tmp_path / "nob.csv", index=False)
    with pytest.raises(DataError, match=r"column 'b' is missing; the run was trained on columns a, b, colour"):
        predict(run, tmp_path / "nob.csv")


def test_preprocessing_record_round_trips_through_json(tmp_path):
    write_table(tmp_path / "t.csv", n=60)
    record = datasets.get("csv")(csv_config(tmp_path / "t.csv")).info["preprocessing"]
    again = TabularPreprocessing.from_record(json.loads(json.dumps(record)))
    frame = pd.read_csv(tmp_path / "t.csv", dtype=str)
    assert again.record() == record
    assert again.transform(frame, "t").shape == (60, len(record["columns"]))
    with pytest.raises(ValueError, match="unknown preprocessing record"):
        TabularPreprocessing.from_record({**record, "format": 99})


def test_features_and_unknown_feature_columns(tmp_path):
    write_table(tmp_path / "t.csv", n=40)
    bundle = datasets.get("csv")(csv_config(tmp_path / "t.csv", features=["a", "colour"]))
    assert bundle.info["preprocessing"]["columns"][:2] == ["a", "a__missing"] and bundle.input_shape == (6,)
    with pytest.raises(DataError, match=r"column 'height' \(data.features\) is not in the file"):
        datasets.get("csv")(csv_config(tmp_path / "t.csv", features=["height"]))
    with pytest.raises(ConfigError, match="data.features: 'label' is also the target"):
        datasets.get("csv")(csv_config(tmp_path / "t.csv", features=["a", "label"]))


# ----------------------------------------------------------------------------- npz


def test_npz_source_takes_explicit_splits_and_carves_missing_ones(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 2, 16)).astype(np.float32), np.arange(50) % 2
    np.savez(tmp_path / "all.npz", x=x, y=y, x_val=x[:10], y_val=y[:10], x_test=x[:6], y_test=y[:6])
    b = datasets.get("npz")(DataConfig(name="npz", path=str(tmp_path / "all.npz")))
    assert (len(b.train), len(b.val), len(b.test)) == (50, 10, 6) and b.input_shape == (2, 16)
    assert torch.equal(b.train.x, torch.from_numpy(x)) and b.scale == 1.0
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    b = datasets.get("npz")(DataConfig(name="npz", path=str(tmp_path / "xy.npz")))
    assert (len(b.train), len(b.val), len(b.test)) == (30, 10, 10)
    np.savez(tmp_path / "half.npz", x=x, y=y, x_val=x[:4])
    with pytest.raises(DataError, match=r"half.npz: has 'x_val' but not 'y_val'"):
        datasets.get("npz")(DataConfig(name="npz", path=str(tmp_path / "half.npz")))
    np.savez(tmp_path / "noy.npz", x=x)
    with pytest.raises(DataError, match=r"noy.npz: needs arrays 'x' and 'y' \(found: x\)"):
        datasets.get("npz")(DataConfig(name="npz", path=str(tmp_path / "noy.npz")))


def test_npz_object_arrays_are_refused_not_unpickled(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}] * 4, dtype=object), y=np.arange(4))
    with pytest.raises(DataError, match=r"obj.npz: .*allow_pickle=False"):
        datasets.get("npz")(DataConfig(name="npz", path=str(tmp_path / "obj.npz")))


# ----------------------------------------------------------------------------- user arrays


def test_nhwc_uint8_images_are_transposed_with_a_note_not_read_as_channels():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 32, 32, 3), dtype=np.uint8)
    b = from_arrays(x, np.arange(60) % 3, DataConfig())
    assert b.input_shape == (3, 32, 32) and b.scale == 255.0 and b.info["input_layout"] == "NHWC"
    assert "NHWC (60, 32, 32, 3) and transposed to NCHW" in b.info["notes"][0]
    nchw = from_arrays(x.transpose(0, 3, 1, 2), np.arange(60) % 3, DataConfig())
    assert torch.equal(b.train.x, nchw.train.x) and nchw.info["notes"] == []


def test_image_values_are_recognised_or_refused_with_what_to_pass():
    y = np.arange(30) % 3
    unit = np.random.default_rng(0).random((30, 1, 8, 8)).astype(np.float32)
    assert from_arrays(unit, y, DataConfig()).scale == 1.0
    assert from_arrays((unit * 255).astype(np.int64), y, DataConfig()).train.x.dtype == torch.uint8
    with pytest.raises(ValueError, match=r"float image values span \[0.048.*, 254.87.*\], not \[0, 1\]; pass uint8"):
        from_arrays(unit * 255, y, DataConfig())
    with pytest.raises(ValueError, match=r"\(30, 3, 8, 3\) could be NCHW or NHWC.*layout='NHWC'"):
        from_arrays(np.zeros((30, 3, 8, 3), np.uint8), y, DataConfig())
    assert from_arrays(np.zeros((30, 3, 8, 3), np.uint8), y, DataConfig(), layout="NHWC").input_shape == (3, 3, 8)
    assert from_arrays(unit * 255, y, DataConfig(), scale=255.0).scale == 255.0  # an explicit scale is trusted


def test_train_accepts_a_dict_of_explicit_splits_and_nhwc_pairs(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    x = (rng.random((90, 8, 8, 3)) * 60).astype(np.uint8)
    x[np.arange(90), :, :, y] += 150  # the bright channel is the class
    data = {"train": (x[:60], y[:60]), "val": (x[60:75], y[60:75]), "test": (x[75:], y[75:])}
    cfg = netcoach.load_config(overrides={**QUICK, "train.epochs": "3", "run.dir": str(tmp_path)})
    result = netcoach.train(cfg, data=data, progress=False)
    assert (len(result.data.train), len(result.data.val), len(result.data.test)) == (60, 15, 15)
    record = json.loads((result.run_dir / "data.json").read_text())
    assert record["input_shape"] == [3, 8, 8] and record["input_layout"] == "NHWC" and record["scale"] == 255.0
    assert result.summary["test"]["test_acc"] == 1.0
    with pytest.raises(ValueError, match=r"data\['val'\] inputs are NCHW \(3, 8, 8\) with scale 1"):
        from_splits({"train": (x, y), "val": (x.transpose(0, 3, 1, 2) / 255.0, y)}, DataConfig())
    carved = from_splits({"train": (x, y), "test": (x[:9], y[:9])}, DataConfig())
    assert (len(carved.train), len(carved.val), len(carved.test)) == (72, 18, 9)
    with pytest.raises(ValueError, match="data dict keys must be train"):
        from_splits({"training": (x, y)}, DataConfig())
