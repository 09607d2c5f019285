"""``model_card.md``: what a consumer of an exported file needs to know, from the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from netcoach.config import Config, to_dict
from netcoach.data.preprocess import FITTED
from netcoach.export.check import Check
from netcoach.export.source import RunSource


def non_default_config(source: RunSource) -> dict:
    """The run's config keys that differ from the defaults, as ``{"section.key": value}``."""
    ran, default = to_dict(source.config), to_dict(Config())
    return {f"{section}.{key}": value for section, values in ran.items()
            for key, value in values.items() if default.get(section, {}).get(key) != value}


def model_card(source: RunSource, fmt: str, file: Path, with_preprocessing: bool,
               probabilities: bool, input_dtype: str, check: Optional[Check]) -> str:
    """The card's Markdown text."""
    record = source.record
    fed = source.fed_shape(with_preprocessing)
    shape = "x".join(map(str, fed))
    origin = (f"the weighted mean of {len(source.members)} member runs' `{source.which}` weights: "
              f"{', '.join(p.name for p in source.members)}" if source.is_ensemble
              else f"exported from the run's `{source.which}` weights")
    lines = [f"# Model card: {source.path.name} ({fmt})", "",
             f"- File: `{file.name}` ({origin})",
             f"- Task: {record.get('task', 'classification')}",
             f"- Classes ({record['num_classes']}): {', '.join(map(str, record.get('class_names') or []))}",
             f"- Input: `{input_dtype.replace('torch.', '')}`, shape (N, {', '.join(map(str, fed))}) "
             f"(batch N dynamic; one sample {shape})",
             f"- Output: {'probabilities' if probabilities else _scores(source)}, "
             f"shape (N, {source.num_outputs})", "",
             "## Preprocessing", "", *_preprocessing(record, with_preprocessing), "",
             "## Test metrics", "", *_metrics(source.summary.get("test") or {}), ""]
    if check is not None:
        lines += ["## Export check", "", check.line(), ""]
    config = non_default_config(source)
    lines += ["## Training config (keys that differ from the defaults)", ""]
    lines += [f"- `{k}` = `{v!r}`" for k, v in config.items()] or ["- all defaults"]
    lines += ["", "## How to load it", "", *USAGE[fmt](file.name, fed, input_dtype), ""]
    return "\n".join(lines)


def _scores(source: RunSource) -> str:
    if source.is_ensemble:
        return "the task's outputs of the members' mean prediction (log mean probabilities for classification)"
    return "raw scores (logits)"


def _preprocessing(record: dict, folded: bool) -> list[str]:
    mean, std = record.get("mean"), record.get("std")
    steps = f"x / {record['scale']:g} (stored value -> [0, 1])"
    if mean is not None:
        steps += f", then (x - mean) / std per channel with mean {_fmt(mean)}, std {_fmt(std)}"
    fitted = record.get("normalize") or {}
    if fitted.get("mode") in FITTED:
        params = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in fitted.items()
                           if k not in ("mode", "output_shape"))
        steps += (f", then data.normalize {fitted['mode']} ({params}; fitted on the training split, "
                  f"tensors in the run's normalize.safetensors) giving shape {tuple(fitted['output_shape'])}")
    where = ("folded into the graph: feed the raw values as stored" if folded else
             "NOT in the file: apply it before calling the model")
    return [f"- {steps}", f"- {where}"]


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"


def _metrics(test: dict) -> list[str]:
    return [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in test.items()] \
        or ["- none recorded (the run did not finish)"]


def _onnx_usage(name: str, fed: tuple[int, ...], dtype: str) -> list[str]:
    np_dtype = dtype.replace("torch.", "")
    shape = ", ".join(map(str, fed))
    return ["```python", "import numpy as np", "import onnxruntime as ort", "",
            f'session = ort.InferenceSession("{name}", providers=["CPUExecutionProvider"])',
            f"x = np.zeros((16, {shape}), dtype=np.{np_dtype})",
            'scores = session.run(["output"], {"input": x})[0]', "```"]


def _pt2_usage(name: str, fed: tuple[int, ...], dtype: str) -> list[str]:
    shape = ", ".join(map(str, fed))
    return ["```python", "import torch", "",
            f'program = torch.export.load("{name}")  # trusted files only: may unpickle',
            "model = program.module()",
            f"scores = model(torch.zeros(16, {shape}, dtype={dtype}))", "```"]


def _safetensors_usage(name: str, fed: tuple[int, ...], dtype: str) -> list[str]:
    shape = ", ".join(map(str, fed))
    return ["```python", "import torch", "from netcoach.export import load_exported", "",
            f'model = load_exported("{name}")  # reads {Path(name).with_suffix(".json").name} too',
            f"scores = model(torch.zeros(16, {shape}))  # normalized float inputs", "```",
            "", "Without netcoach: `safetensors.torch.load_file` gives the state dict; the JSON "
            "sidecar's `config.model` section describes the architecture."]


USAGE = {"onnx": _onnx_usage, "torch-export": _pt2_usage, "safetensors": _safetensors_usage}
