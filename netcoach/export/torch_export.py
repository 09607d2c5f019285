"""``.pt2`` export through ``torch.export`` for PyTorch consumers (no TorchScript, which
torch deprecates).

The program is serialized in memory, loaded back with ``torch.export.load`` and run
against the original module, and written (atomically) only when they agree.

Safety: a ``.pt2`` archive stores its weights with ``torch.save``; ``torch.export.load``
first tries torch's restricted ``weights_only`` unpickler but falls back to full
unpickling when that fails. Load ``.pt2`` files only from sources you trust; hand out
ONNX or safetensors otherwise. The round trip here loads the bytes this process just
produced, never a file from disk.
"""

from __future__ import annotations

import io

import torch
from torch import nn


def to_pt2(module: nn.Module, example: torch.Tensor, metadata: dict) -> bytes:
    """The serialized ``torch.export`` program of ``module`` (batch dimension dynamic);
    ``metadata`` (strings) goes into the archive's extra files."""
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files=metadata)
    return buffer.getvalue()


@torch.no_grad()
def run_pt2(program_bytes: bytes, x: torch.Tensor) -> torch.Tensor:
    """Outputs of the serialized program, loaded back as a consumer would, for ``x``."""
    program = torch.export.load(io.BytesIO(program_bytes))
    return program.module()(x)
