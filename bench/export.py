"""ONNX Runtime vs PyTorch: CPU inference throughput of netcoach's MNIST CNN.

The model is netcoach's default ``cnn`` (3 conv blocks, width 128) for 1x28x28 inputs and
10 classes, exported with the same exporter ``netcoach export --format onnx`` uses
(``torch.onnx.export(dynamo=True)``, dynamic batch). Inputs are real MNIST test images
from ``../shared/datasets/mnist`` when present (else random values), normalized as
training would. Both runtimes run in this process with the same number of intra-op
threads (``--threads``, default 1; ONNX Runtime with one inter-op thread) and are timed
alternately per round (the median round is reported), at batch 1 and 256. Time is the
process's CPU time by default (``--clock process``): with one thread that is the work done,
and it is not inflated when other jobs share the machine; ``--clock wall`` uses the wall clock.
Throughput does not depend on the weights, so the model is not trained.

Run: ``PYTHONPATH=. python bench/export.py [--threads 1] [--rounds 5]``; the last line is
the ratio (ONNX Runtime samples/s over PyTorch samples/s per batch size).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netcoach.config import ModelConfig  # noqa: E402
from netcoach.export.onnx import INPUT, OUTPUT, to_onnx  # noqa: E402
from netcoach.models import build_model  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
BATCHES = (1, 256)
CLOCKS = {"process": time.process_time, "wall": time.perf_counter}


def inputs(count: int) -> tuple[torch.Tensor, str]:
    """``count`` normalized 1x28x28 images and where they came from."""
    images = MNIST / "t10k-images-idx3-ubyte.gz"
    if images.is_file():
        from netcoach.data.idx import read_idx

        x = torch.from_numpy(read_idx(images, ndim=3)[:count].copy()).float().div(255).unsqueeze(1)
        source = f"MNIST test images ({images.parent})"
    else:
        x = torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        source = f"random inputs ({MNIST} not found)"
    return (x - 0.1307) / 0.3081, source


def rate(fn, x, min_time: float, clock) -> float:
    """Samples per second of ``fn(x)`` over at least ``min_time`` seconds (after one warm call)."""
    fn(x)
    calls, start = 0, clock()
    while (elapsed := clock() - start) < min_time or calls < 3:
        fn(x)
        calls += 1
    return calls * len(x) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="process")
    args = parser.parse_args()

    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(ModelConfig(), (1, 28, 28), 10).eval()
    x, source = inputs(max(BATCHES))
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    session = ort.InferenceSession(to_onnx(model, x[:2], {}), options,
                                   providers=["CPUExecutionProvider"])

    def torch_fn(batch):
        with torch.inference_mode():
            return model(batch)

    def ort_fn(batch):
        return session.run([OUTPUT], {INPUT: batch.numpy()})[0]

    diff = float(np.abs(ort_fn(x) - torch_fn(x).numpy()).max())
    print(f"model: netcoach cnn (default config), 1x28x28 -> 10; inputs: {source}")
    print(f"threads: {args.threads} (torch intra-op; onnxruntime intra-op, 1 inter-op); "
          f"{args.clock} clock; torch {torch.__version__}, onnxruntime {ort.__version__}; "
          f"max abs diff {diff:.2g}")
    ratios = {}
    for batch in BATCHES:
        xb = x[:batch].contiguous()
        results = {"pytorch": [], "onnxruntime": []}
        for r in range(args.rounds):
            order = [("pytorch", torch_fn), ("onnxruntime", ort_fn)]
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                results[name].append(rate(fn, xb, args.min_time, CLOCKS[args.clock]))
        pt, ox = statistics.median(results["pytorch"]), statistics.median(results["onnxruntime"])
        ratios[batch] = ox / pt
        print(f"batch {batch:>3}: pytorch {pt:>10,.0f} samples/s   onnxruntime {ox:>10,.0f} samples/s")
    print("ratio onnxruntime/pytorch: " + ", ".join(f"batch {b}: {r:.2f}x" for b, r in ratios.items()))


if __name__ == "__main__":
    main()
