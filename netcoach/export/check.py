"""The check every export ends with: the written artifact, run by its own runtime, against
PyTorch on the same inputs. The file is only put in place when the check passes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_TOLERANCE = 1e-4


class ExportCheckError(RuntimeError):
    """The exported artifact's outputs differ from PyTorch's by more than the tolerance."""


@dataclass(frozen=True)
class Check:
    """How the exported artifact compared with PyTorch."""

    runtime: str            # "onnxruntime", "torch.export"
    samples: int
    origin: str             # where the inputs came from (test split, or why random)
    max_abs_diff: float
    tolerance: float
    same_predictions: float  # fraction of samples whose argmax agrees

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def line(self) -> str:
        return (f"{self.runtime} vs PyTorch on {self.origin}: max abs difference "
                f"{self.max_abs_diff:.3g} (tolerance {self.tolerance:g}), "
                f"same argmax on {self.same_predictions:.1%}")


def compare(runtime: str, got, expected: torch.Tensor, origin: str, tolerance: float) -> Check:
    """Compare ``got`` (numpy or tensor) with PyTorch's ``expected`` outputs."""
    got = torch.as_tensor(np.asarray(got)).float()
    expected = expected.detach().float().cpu()
    if got.shape != expected.shape:
        raise ExportCheckError(f"{runtime} returned shape {tuple(got.shape)}, PyTorch "
                               f"{tuple(expected.shape)}")
    diff = float((got - expected).abs().max()) if got.numel() else 0.0
    same = float((got.argmax(-1) == expected.argmax(-1)).float().mean()) if got.numel() else 1.0
    return Check(runtime, len(got), origin, diff, tolerance, same)


def require(check: Check) -> Check:
    """``check``, or an ExportCheckError saying by how much it failed."""
    if not check.passed:
        raise ExportCheckError(f"export check failed: {check.line()}; no file written")
    return check
