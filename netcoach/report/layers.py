"""Readable layer names for the report: ``conv2`` and ``head`` instead of the module paths
``backbone.4`` and ``head.fc`` that the monitors, checkpoints and model summary record.

The name comes from the layer's type in ``model_summary.json`` and its rank among the
layers of that kind (conv1, conv2, ..., fc1, ...); the one weight layer of the head is
``head``. Paths the summary does not know keep their path, so nothing is renamed by guess.
"""

from __future__ import annotations

from typing import Any, Iterable

# Module type -> the short name of its kind.
KINDS = {"Conv1d": "conv", "Conv2d": "conv", "Conv3d": "conv", "ConvTranspose2d": "deconv",
         "Linear": "fc", "Embedding": "embed", "LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}


def summary_layers(model_summary: Any) -> list[dict]:
    """The layer records of ``model_summary.json`` (a list, or a dict holding one under ``layers``)."""
    layers = model_summary.get("layers") if isinstance(model_summary, dict) else model_summary
    return [r for r in layers or [] if isinstance(r, dict) and "name" in r]


def display_names(model_summary: Any, paths: Iterable[str] = ()) -> dict[str, str]:
    """``{module path: readable name}`` for every weight layer of the summary and ``paths``."""
    records = summary_layers(model_summary)
    weighted = [r for r in records if str(r.get("type")) in KINDS]
    head = [r for r in weighted if str(r["name"]).startswith("head.")]
    counts: dict[str, int] = {}
    names: dict[str, str] = {}
    for r in weighted:
        path = str(r["name"])
        if len(head) == 1 and r is head[0]:
            names[path] = "head"
            continue
        kind = KINDS[str(r["type"])]
        counts[kind] = counts.get(kind, 0) + 1
        names[path] = f"{kind}{counts[kind]}"
    for path in paths:
        names.setdefault(path, path)
    return names


def labelled(path: str, names: dict[str, str]) -> str:
    """``conv2 (backbone.4)``: the readable name with the path it stands for."""
    name = names.get(path, path)
    return path if name == path else f"{name} ({path})"
