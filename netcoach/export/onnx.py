"""ONNX export through ``torch.onnx.export`` with the dynamo exporter, checked in ONNX Runtime.

``dynamo=True`` (torch.export-based, needs ``onnxscript``) is passed explicitly: it is the
exporter torch maintains, and it expresses every model of the registry (a test exports
each one), so there is no fallback to the TorchScript-based ``dynamo=False`` path. The
batch dimension is dynamic, so one file serves batch 1 and batch 256.

The file is serialized in memory, run in ONNX Runtime against PyTorch, and written
(atomically) only when the outputs agree within the tolerance.
"""

from __future__ import annotations

import importlib
import json
import logging
import warnings
from contextlib import contextmanager

import torch
from torch import nn

INPUT, OUTPUT = "input", "output"


def missing(package: str, extra: str = "export") -> ImportError:
    return ImportError(f"--format onnx needs the optional package '{package}' "
                       f"(pip install 'netcoach[{extra}]')")


@contextmanager
def _quiet():
    """The exporter warns about optional torchvision ops and deprecations on every call;
    none of that concerns a netcoach model, and library code does not print."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def to_onnx(module: nn.Module, example: torch.Tensor, metadata: dict) -> bytes:
    """The serialized ONNX model of ``module`` (batch dimension dynamic), with ``metadata``
    (JSON-able values) stored in the model's metadata_props."""
    for package in ("onnx", "onnxscript"):
        try:
            importlib.import_module(package)
        except ImportError:
            raise missing(package) from None
    batch = torch.export.Dim("batch", min=1)
    with _quiet():
        program = torch.onnx.export(module, (example,), dynamo=True, input_names=[INPUT],
                                    output_names=[OUTPUT], dynamic_shapes=({0: batch},),
                                    verbose=False)
    proto = program.model_proto
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    return proto.SerializeToString()


def run_onnx(model_bytes: bytes, x: torch.Tensor):
    """Outputs of the serialized model in ONNX Runtime (CPU) for the batch ``x``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise missing("onnxruntime") from None
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: x.numpy()})[0]
