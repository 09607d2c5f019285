"""Tabular data from a CSV file (``data.name csv``): rows become feature vectors.

Every cell is read as text (pandas, ``dtype=str``) and each column's kind is decided
here, so a number stored as text and a number are the same thing:

- **numeric**: every non-empty value parses as a number (``pd.to_numeric``); a column
  where some values parse and others do not is an error naming the column and the
  first bad value (fix it, empty the cell, or list the column in ``data.categorical``).
- **categorical**: no value parses as a number, or the column is listed in
  ``data.categorical``; encoded one-hot, one column per category. Only one-hot is
  done (no embeddings), so a column with very many categories makes a wide input.
  The categories are those of the whole training file (the file's schema); a
  category that was not among them at prediction time is an error naming the column.
- **missing values** (empty cells, ``NA``, ``NaN``, ...): filled with the training
  split's median (numeric) or most frequent value (categorical), plus a 0/1
  ``<column>__missing`` indicator column for every column that has empty cells in the
  training file. New rows with a missing value in a column without an indicator are
  filled the same way.

Numeric columns are standardized with the training split's mean and standard
deviation through the bundle's ``mean``/``std`` (the loader applies them, as for
every other source); one-hot and indicator columns keep 0/1 (mean 0, std 1).

The target (``data.target``) is read as class labels when the task splits by class
(``stratify``, classification): its distinct values, sorted (numerically when they
are all integers), become the class names kept in the run. Otherwise it holds
numbers, one float column per target (regression).

The fitted preprocessing is a JSON record (``TabularPreprocessing.record``) that the
run folder keeps, so prediction applies exactly the same transform to new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from netcoach.config import ConfigError, DataConfig
from netcoach.data.base import DataBundle, Split
from netcoach.data.errors import DataError
from netcoach.data.sources import datasets
from netcoach.data.splits import three_way

if TYPE_CHECKING:
    import pandas as pd

NUMERIC, CATEGORICAL = "numeric", "categorical"
MISSING_SUFFIX = "__missing"
FORMAT = 1  # version of the preprocessing record


def read_csv(path: str | Path) -> pd.DataFrame:
    """The file as a frame of strings (NaN for empty cells), or a DataError naming the file."""
    import pandas as pd  # here, not at module level: `import netcoach` stays fast without CSVs

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data.path: {path} not found (the csv source needs a CSV file)")
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True, encoding="utf-8-sig")  # BOM-tolerant
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file; a CSV needs a header line and at least one row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({str(exc).strip()})") from None
    if len(frame) == 0:
        raise DataError(f"{path}: empty file (a header with columns {', '.join(frame.columns)} "
                        "but no rows)")
    return frame


def _text(column: pd.Series) -> pd.Series:
    return column.astype(object).where(column.notna(), None).map(
        lambda v: v.strip() if isinstance(v, str) else v)


def parse_numbers(column: pd.Series, name: str, where: str) -> np.ndarray:
    """The column as float64 (NaN where empty), or a DataError naming the column and a bad value."""
    import pandas as pd

    text = _text(column)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = text.notna().to_numpy() & np.isnan(numbers)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: column {name!r} cannot be numeric: value {text.iloc[row]!r} in data "
                        f"row {row + 1} is not a number; fix it, leave the cell empty for a missing "
                        f"value, or list the column in data.categorical")
    return numbers


def column_kind(column: pd.Series, name: str, where: str, categorical: bool) -> str:
    """``numeric`` when every value parses as a number, ``categorical`` when none does
    (or when forced); a column with both is an error (``parse_numbers`` says which value)."""
    import pandas as pd

    text = _text(column).dropna()
    if len(text) == 0:
        raise DataError(f"{where}: column {name!r} has no values; drop it from data.features")
    if categorical:
        return CATEGORICAL
    parsed = pd.to_numeric(text, errors="coerce").notna()
    if parsed.all():
        return NUMERIC
    if not parsed.any():
        return CATEGORICAL
    parse_numbers(column, name, where)  # raises, naming the first value that is not a number
    raise AssertionError("unreachable")


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


@dataclass
class TabularPreprocessing:
    """The fitted transform from CSV rows to feature vectors (and targets), as a JSON record.

    ``features``: one dict per input column: ``name``, ``kind``, ``fill`` (training median
    or most frequent value), ``indicator`` (whether a ``__missing`` column follows) and,
    for categorical columns, ``categories``. ``target``: ``columns``, ``kind`` (``classes``
    or ``values``) and ``classes``.
    """

    features: list[dict]
    target: dict

    @property
    def columns(self) -> list[str]:
        """The names of the encoded feature columns, in order."""
        out = []
        for f in self.features:
            out += [f["name"]] if f["kind"] == NUMERIC else [f"{f['name']}={c}" for c in f["categories"]]
            out += [f["name"] + MISSING_SUFFIX] if f["indicator"] else []
        return out

    def record(self) -> dict:
        return {"format": FORMAT, "source": "csv", "features": self.features, "target": self.target,
                "columns": self.columns}

    @classmethod
    def from_record(cls, record: dict) -> "TabularPreprocessing":
        if record.get("format") != FORMAT or record.get("source") != "csv":
            raise ValueError(f"unknown preprocessing record (format {record.get('format')!r}, "
                             f"source {record.get('source')!r}); this netcoach reads csv format {FORMAT}")
        return cls(list(record["features"]), dict(record["target"]))

    # ------------------------------------------------------------------ applying
    def transform(self, frame: pd.DataFrame, where: str, dtype=np.float32) -> np.ndarray:
        """Rows of ``frame`` -> (N, D) features (float32 as the model takes them); extra
        columns (the target) are ignored."""
        missing = [f["name"] for f in self.features if f["name"] not in frame.columns]
        if missing:
            raise DataError(f"{where}: column {missing[0]!r} is missing; the run was trained on columns "
                            f"{', '.join(f['name'] for f in self.features)}")
        parts = [self._encode(frame[f["name"]], f, where) for f in self.features]
        return np.concatenate(parts, axis=1).astype(dtype)

    def _encode(self, column: pd.Series, spec: dict, where: str) -> np.ndarray:
        name = spec["name"]
        if spec["kind"] == NUMERIC:
            values = parse_numbers(column, name, where)
            empty = np.isnan(values)
            block = np.where(empty, spec["fill"], values)[:, None]
        else:
            text = _text(column)
            empty = text.isna().to_numpy()
            values = text.where(~empty, spec["fill"]).astype(str)
            index = {c: i for i, c in enumerate(spec["categories"])}
            unseen = sorted(set(values) - index.keys())
            if unseen:
                known = ", ".join(spec["categories"][:10]) + (", ..." if len(index) > 10 else "")
                raise DataError(f"{where}: column {name!r} has category {unseen[0]!r} that the run never "
                                f"saw in training (known: {known}); map it to a known category or "
                                f"leave the cell empty (filled with {spec['fill']!r})")
            block = np.zeros((len(values), len(index)), np.float64)
            block[np.arange(len(values)), [index[v] for v in values]] = 1.0
        if spec["indicator"]:
            block = np.concatenate([block, empty[:, None].astype(np.float64)], axis=1)
        return block

    def targets(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """The target column(s) of ``frame``: class indices (N,) int64 against the run's
        classes, or float32 values (N,) / (N, T)."""
        return encode_targets(frame, self.target["columns"], self.target["kind"], where,
                              self.target.get("classes"))[0]

    def standardization(self, x_train: np.ndarray) -> tuple[list[float], list[float]]:
        """Per encoded column: the training mean/std of numeric columns, 0/1 for the others."""
        mean, std = np.zeros(x_train.shape[1]), np.ones(x_train.shape[1])
        col = 0
        for f in self.features:
            width = 1 if f["kind"] == NUMERIC else len(f["categories"])
            if f["kind"] == NUMERIC:
                values = x_train[:, col].astype(np.float64)
                mean[col] = values.mean()
                spread = values.std()
                std[col] = spread if spread > 1e-12 else 1.0  # a constant column stays unscaled
            col += width + int(f["indicator"])
        return mean.tolist(), std.tolist()


def encode_targets(frame: pd.DataFrame, columns: list[str], kind: str, where: str,
                   classes: Optional[list[str]] = None) -> tuple[np.ndarray, list[str]]:
    """(targets, class names): class indices (classes given: mapped to them, else the
    sorted distinct values) or float values; empty target cells are an error."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataError(f"{where}: target column {absent[0]!r} (data.target) is not in the file; "
                        f"columns: {', '.join(frame.columns)}")
    for name in columns:
        empty = int(frame[name].isna().sum())
        if empty:
            raise DataError(f"{where}: target column {name!r} has {empty} empty cells; drop those rows "
                            "(a target cannot be filled in)")
    if kind == "values":
        values = np.stack([parse_numbers(frame[c], c, where) for c in columns], axis=1).astype(np.float32)
        return (values[:, 0] if len(columns) == 1 else values), []
    if len(columns) != 1:
        raise ConfigError(f"data.target: class labels come from one column, got {len(columns)} "
                          f"({', '.join(columns)}); for several numeric targets use task.name regression")
    labels = _text(frame[columns[0]]).astype(str)
    names = classes if classes is not None else sorted(set(labels), key=_sort_key)
    index = {c: i for i, c in enumerate(names)}
    unknown = sorted(set(labels) - index.keys())
    if unknown:
        raise DataError(f"{where}: target column {columns[0]!r} has class {unknown[0]!r} that the run "
                        f"does not know (classes: {', '.join(names)})")
    return np.asarray([index[v] for v in labels], dtype=np.int64), list(names)


def fit(frame: pd.DataFrame, cfg: DataConfig, train_rows: np.ndarray, target: dict,
        where: str) -> TabularPreprocessing:
    """Decide each feature column's kind from the whole file and fit the fill values on
    ``train_rows`` only."""
    features = feature_columns(frame, cfg, where)
    train = frame.iloc[train_rows]
    specs = []
    for name in features:
        kind = column_kind(frame[name], name, where, name in cfg.categorical)
        spec = {"name": name, "kind": kind, "indicator": bool(frame[name].isna().any())}
        if kind == NUMERIC:
            values = parse_numbers(train[name], name, where)
            spec["fill"] = float(np.nanmedian(values)) if (~np.isnan(values)).any() else 0.0
        else:
            text = _text(frame[name]).dropna().astype(str)
            spec["categories"] = sorted(set(text), key=_sort_key)
            seen = _text(train[name]).dropna().astype(str)
            counts = (seen if len(seen) else text).value_counts()
            spec["fill"] = min(counts.index[counts == counts.max()], key=_sort_key)  # ties: the first
        specs.append(spec)
    return TabularPreprocessing(specs, target)


def feature_columns(frame: pd.DataFrame, cfg: DataConfig, where: str) -> list[str]:
    """``data.features``, or every column but the target; unknown names are errors."""
    for key, names in (("data.features", cfg.features), ("data.categorical", cfg.categorical)):
        absent = [c for c in names if c not in frame.columns]
        if absent:
            raise DataError(f"{where}: column {absent[0]!r} ({key}) is not in the file; "
                            f"columns: {', '.join(frame.columns)}")
    chosen = list(cfg.features) or [c for c in frame.columns if c not in cfg.target]
    overlap = [c for c in chosen if c in cfg.target]
    if overlap:
        raise ConfigError(f"data.features: {overlap[0]!r} is also the target (data.target); "
                          "a model must not read its own answer")
    if not chosen:
        raise DataError(f"{where}: no feature columns besides the target {', '.join(cfg.target)}")
    return chosen


def check_target_config(cfg: DataConfig, frame: pd.DataFrame, where: str) -> list[str]:
    if not cfg.target:
        raise ConfigError(f"data.target: name the target column(s) of {where}; columns: "
                          f"{', '.join(frame.columns)}")
    return list(cfg.target)


@datasets.register("csv")
def load_csv(cfg: DataConfig, stratify: bool = True) -> DataBundle:
    """``data.path`` split into train/val/test (``data.val_fraction``, ``test_fraction``,
    ``split_seed``; by class when ``stratify``), preprocessing fitted on the training rows."""
    if not cfg.path:
        raise ConfigError("data.path: the csv source needs the CSV file (--data.path FILE)")
    where = str(cfg.path)
    frame = read_csv(cfg.path)
    target_cols = check_target_config(cfg, frame, where)
    kind = "classes" if stratify else "values"
    y, classes = encode_targets(frame, target_cols, kind, where)
    tr, va, te = three_way(y, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify)
    target = {"columns": target_cols, "kind": kind, "classes": classes or None}
    prep = fit(frame, cfg, tr, target, where)
    x = prep.transform(frame, where, np.float64)  # statistics in float64, inputs in float32
    mean, std = prep.standardization(x[tr]) if cfg.normalize else (None, None)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)
    split = lambda idx: Split(xt[torch.as_tensor(idx)], yt[torch.as_tensor(idx)])  # noqa: E731
    num = len(classes) if classes else (1 if y.ndim == 1 else y.shape[1])
    names = classes or target_cols  # numeric targets are named by their columns
    return DataBundle(name=Path(cfg.path).stem, train=split(tr), val=split(va), test=split(te),
                      num_classes=num, class_names=names, scale=1.0, mean=mean, std=std,
                      info={"preprocessing": prep.record()})


def load_with(record: dict, path: str | Path, labelled: bool = True) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Every row of the CSV ``path`` through a run's stored preprocessing: (features, targets
    or None when not ``labelled``)."""
    prep = TabularPreprocessing.from_record(record)
    frame = read_csv(path)
    x = prep.transform(frame, str(path))
    return x, (prep.targets(frame, str(path)) if labelled else None)
