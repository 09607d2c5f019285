"""Model summary: per-layer output shapes, parameter counts and multiply-accumulates.

One forward pass of a batch of 2 in eval mode (no gradients, no running-statistics
updates) records every leaf module's input and output shapes with forward hooks.
For each convolution and pooling layer the course's output-size formula

    N_out = (N_in - F + 2P) / S + 1

is evaluated from the layer's settings and compared with the shape PyTorch
actually produced (``formula_ok``), so the summary doubles as a check that the
formula explains every spatial size in the network.

MACs per sample count the multiply-accumulates of Linear and Conv layers (the
bulk of the work); normalization, activation and pooling layers are counted as 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netcoach.config import Config
from netcoach.data import build_data
from netcoach.models.registry import build_model

_POOLS = (nn.MaxPool2d, nn.AvgPool2d)


def conv_output_size(n_in: int, kernel: int, padding: int = 0, stride: int = 1, ceil: bool = False) -> int:
    """N_out = (N_in - F + 2P) / S + 1, rounded down as PyTorch does (up with ``ceil``).

    Example:
        >>> conv_output_size(32, 5)              # LeNet's first convolution
        28
        >>> conv_output_size(32, 3, padding=1, stride=2)
        16
    """
    span = n_in - kernel + 2 * padding
    return (-(-span // stride) if ceil else span // stride) + 1


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def _expected_hw(module: nn.Module, h: int, w: int) -> tuple[int, int] | None:
    """Output (H, W) predicted by the formula for conv/pool layers, else None."""
    if isinstance(module, nn.Conv2d):
        if _pair(module.dilation) != (1, 1) or isinstance(module.padding, str):
            return None  # the course's formula is for undilated convolutions with explicit padding
        ceil = False
    elif isinstance(module, _POOLS):
        if isinstance(module, nn.MaxPool2d) and _pair(module.dilation) != (1, 1):
            return None
        ceil = module.ceil_mode
    else:
        return None
    (kh, kw), (sh, sw) = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
    ph, pw = _pair(module.padding)
    return conv_output_size(h, kh, ph, sh, ceil), conv_output_size(w, kw, pw, sw, ceil)


def _macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-accumulates of one sample through ``module``."""
    per_sample = output[0].numel()
    if isinstance(module, nn.Conv2d):
        kh, kw = _pair(module.kernel_size)
        return per_sample * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    return 0


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Per-layer shapes, parameters and MACs of ``model`` for inputs of ``input_shape``.

    Args:
        model: any module mapping (batch, *input_shape) to outputs; left unchanged
            (train/eval flags restored, no statistics updated).
        input_shape: one sample's shape, e.g. (1, 32, 32).

    Returns:
        ``{"input_shape", "output_shape", "layers": [{"name", "type", "output_shape",
        "params", "macs", "formula_hw", "formula_ok"}], "total_params",
        "trainable_params", "total_macs", "formula_ok"}``.
    """
    layers: list[dict[str, Any]] = []

    def hook(module: nn.Module, args: tuple, output: torch.Tensor, name: str = "") -> None:
        row = {"name": name, "type": type(module).__name__, "output_shape": list(output.shape[1:]),
               "params": sum(p.numel() for p in module.parameters(recurse=False)),
               "macs": _macs(module, output), "formula_hw": None, "formula_ok": None}
        if args and args[0].dim() == 4 and output.dim() == 4:
            expected = _expected_hw(module, *args[0].shape[2:])
            if expected is not None:
                row["formula_hw"] = list(expected)
                row["formula_ok"] = list(expected) == list(output.shape[2:])
        layers.append(row)

    handles = [m.register_forward_hook(lambda mod, a, out, n=name: hook(mod, a, out, n))
               for name, m in model.named_modules() if not any(True for _ in m.children())]
    modes = {m: m.training for m in model.modules()}
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    try:
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    checks = [row["formula_ok"] for row in layers if row["formula_ok"] is not None]
    return {"input_shape": list(input_shape), "output_shape": list(out.shape[1:]), "layers": layers,
            "total_params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_macs": sum(row["macs"] for row in layers), "formula_ok": all(checks)}


def summary_record(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """``summarize`` for the run folder: a model the summary cannot run (a custom module
    that rejects a zero batch) gives ``{"error": ...}`` instead of stopping the training."""
    try:
        return summarize(model, input_shape)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return {"input_shape": list(input_shape), "error": f"{type(exc).__name__}: {exc}"}


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text table of ``summarize``'s result (one line per layer, then totals)."""
    lines = [f"{'layer':<28} {'type':<18} {'output shape':<16} {'params':>11} {'MACs':>14}  N_out formula"]
    for row in summary["layers"]:
        check = "" if row["formula_ok"] is None else ("ok" if row["formula_ok"] else
                                                     f"MISMATCH (formula {row['formula_hw']})")
        shape = "x".join(map(str, row["output_shape"]))
        lines.append(f"{row['name']:<28} {row['type']:<18} {shape:<16} {row['params']:>11,} "
                     f"{row['macs']:>14,}  {check}")
    lines.append(f"total: {summary['total_params']:,} parameters ({summary['trainable_params']:,} "
                 f"trainable), {summary['total_macs']:,} MACs per sample "
                 f"({summary['total_macs'] / 1e6:.2f} M), input {summary['input_shape']}, "
                 f"formula {'ok' if summary['formula_ok'] else 'MISMATCH'}")
    return "\n".join(lines)


def model_summary(config=None, *, input_shape: tuple[int, ...] | None = None,
                  num_classes: int | None = None, model: nn.Module | None = None) -> dict[str, Any]:
    """Per-layer output shapes, parameter counts and MACs per sample of ``config.model``.

    Input shape and class count default to those of ``config.data`` (which is then
    loaded); pass both to skip loading data.

    Example:
        >>> from netcoach.config import Config, apply_overrides
        >>> s = model_summary(apply_overrides(Config(), {"model.name": "lenet5"}),
        ...                   input_shape=(1, 32, 32), num_classes=10)
        >>> s["total_params"], s["formula_ok"]
        (61706, True)
    """
    config = config or Config()
    if input_shape is None or num_classes is None:
        bundle = build_data(config, torch.device("cpu"))
        input_shape = input_shape or tuple(bundle.model_input_shape)
        num_classes = num_classes or bundle.num_classes
    model = model or build_model(config.model, tuple(input_shape), num_classes)
    summary = summarize(model, tuple(input_shape))
    summary["model"] = config.model.name
    summary["num_classes"] = num_classes
    return summary


__all__ = ["conv_output_size", "format_summary", "model_summary", "summarize", "summary_record"]
