"""The fitted input modes of ``data.normalize``: mean image, PCA, ZCA (full image or patches).

``per_channel`` (the default) is the training split's mean/std per channel
(``normalize.channel_stats``, kept as ``DataBundle.mean``/``std``) and ``none`` leaves
inputs in [0, 1] units; the other modes are fitted here, on the training split only, as
small ``nn.Module``s that take a [0, 1]-unit batch and give the model's inputs:

- ``mean_image``: subtract the training split's mean image (every pixel and channel its
  own mean, as the course does for 32x32x3 CIFAR images).
- ``pca``: center, then project onto the top principal components, (N, k) out; ``k`` is
  ``data.pca_components``, or the fewest components whose explained variance reaches
  ``data.pca_variance`` (0.99 when neither is given). Fitted with scikit-learn's
  ``PCA`` (exact solvers, so a run is deterministic); for MLP-style flat inputs.
- ``zca``: ``data.zca_patch`` 0 whitens whole inputs, x -> W (x - mu) with
  W = U diag(1/sqrt(lambda + data.zca_epsilon)) U^T, so the training inputs' covariance
  becomes (nearly) the identity and images keep their shape. ``data.zca_patch`` k > 0
  whitens every k x k patch instead, as airbench's first layer does: a fixed k x k
  convolution (no padding) whose C*k*k output channels are the patch's ZCA coordinates.
  The covariance and its eigendecomposition are computed with torch
  (``netcoach.data.whiten`` says why and what was measured: scikit-learn has no ZCA).

Every module applies on the training device inside the loader and is traced into an
export, so its arithmetic is torch's; its tensors are stored with the run
(``normalize.safetensors``) and its description in ``data.json`` (``normalize_record``).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netcoach.config import ConfigError, DataConfig
from netcoach.data.base import DataBundle
from netcoach.data.whiten import flat_rows, mean_and_covariance, patch_rows, zca_matrix

MODES = ("per_channel", "mean_image", "pca", "zca", "none")
FITTED = ("mean_image", "pca", "zca")  # modes with a fitted module
DEFAULT_VARIANCE = 0.99
MAX_ZCA_DIM = 8192  # a D x D float64 covariance: 8192 is 512 MiB


class MeanImage(nn.Module):
    """x - the training mean image (one value per pixel and channel)."""

    mode = "mean_image"

    def __init__(self, mean: Tensor):
        super().__init__()
        self.register_buffer("mean", mean.to(torch.float32).unsqueeze(0))
        self.params: dict = {}

    def forward(self, x: Tensor) -> Tensor:
        return x - self.mean

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)


class FlatLinear(nn.Module):
    """(x flattened - mean) @ matrix, reshaped to ``out_shape``: PCA (D -> k) and full ZCA (D -> D)."""

    def __init__(self, mode: str, mean: Tensor, matrix: Tensor, out_shape: tuple[int, ...], params: dict):
        super().__init__()
        self.mode, self.out_shape, self.params = mode, tuple(out_shape), dict(params)
        self.register_buffer("mean", mean.to(torch.float32))
        self.register_buffer("matrix", matrix.to(torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return ((x.reshape(len(x), -1) - self.mean) @ self.matrix).reshape(len(x), *self.out_shape)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.out_shape


class PatchZCA(nn.Module):
    """A fixed k x k convolution giving every patch's ZCA coordinates (C*k*k channels)."""

    mode = "zca"

    def __init__(self, weight: Tensor, bias: Tensor, params: dict):
        super().__init__()
        self.params = dict(params)
        self.register_buffer("weight", weight.to(torch.float32))
        self.register_buffer("bias", bias.to(torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        k = self.weight.shape[-1]
        return (self.weight.shape[0], shape[1] - k + 1, shape[2] - k + 1)


# ---------------------------------------------------------------------- fitting
def fit_normalizer(cfg: DataConfig, x: Tensor, scale: float) -> Optional[nn.Module]:
    """The fitted module of ``cfg.normalize`` for training inputs ``x`` (stored values,
    ``scale`` meaning 1.0); None for ``per_channel`` and ``none``. A mode that cannot
    apply to these inputs is a ConfigError naming the key and what to use instead."""
    mode = cfg.normalize
    if mode not in FITTED:
        return None
    if len(x) < 2:
        raise ConfigError(f"data.normalize {mode}: needs at least 2 training samples, got {len(x)}")
    if mode == "mean_image":
        mean, _ = _mean(x, scale)
        return MeanImage(mean.reshape(x.shape[1:]))
    if mode == "pca":
        return _fit_pca(cfg, x, scale)
    return _fit_patch_zca(cfg, x, scale) if cfg.zca_patch else _fit_zca(cfg, x, scale)


def _mean(x: Tensor, scale: float) -> tuple[Tensor, int]:
    total, count = None, 0
    for rows in flat_rows(x, scale):
        total = rows.sum(0) if total is None else total + rows.sum(0)
        count += len(rows)
    return total / count, count


def _fit_pca(cfg: DataConfig, x: Tensor, scale: float) -> FlatLinear:
    from sklearn.decomposition import PCA

    n, dim = len(x), math.prod(x.shape[1:])
    if cfg.pca_components is not None and cfg.pca_components > min(n, dim):
        raise ConfigError(f"data.pca_components {cfg.pca_components}: at most min(training samples, "
                          f"input values) = min({n}, {dim}) = {min(n, dim)} components exist")
    variance = cfg.pca_variance if cfg.pca_variance is not None else DEFAULT_VARIANCE
    # sklearn takes a fraction in (0, 1); all of the variance is every component
    wanted = cfg.pca_components if cfg.pca_components is not None else (variance if variance < 1 else None)
    data = np.concatenate([r.numpy() for r in flat_rows(x, scale)])
    pca = PCA(n_components=wanted, svd_solver="covariance_eigh" if n > dim else "full").fit(data)
    params = {"components": int(pca.n_components_),
              "explained_variance": float(pca.explained_variance_ratio_.sum())}
    if cfg.pca_components is None:
        params["variance"] = variance
    return FlatLinear("pca", torch.from_numpy(pca.mean_), torch.from_numpy(pca.components_.T.copy()),
                      (int(pca.n_components_),), params)


def _fit_zca(cfg: DataConfig, x: Tensor, scale: float) -> FlatLinear:
    dim = math.prod(x.shape[1:])
    if dim > MAX_ZCA_DIM:
        raise ConfigError(f"data.normalize zca: inputs of shape {tuple(x.shape[1:])} have {dim} values; "
                          f"whitening whole inputs needs a {dim} x {dim} covariance (at most "
                          f"{MAX_ZCA_DIM} values); use data.zca_patch 2 (patch whitening), smaller "
                          f"images (data.image_size) or data.normalize mean_image")
    mean, cov = mean_and_covariance(flat_rows(x, scale))
    params = {"epsilon": cfg.zca_epsilon, "patch": 0}
    return FlatLinear("zca", mean, zca_matrix(cov, cfg.zca_epsilon), tuple(x.shape[1:]), params)


def _fit_patch_zca(cfg: DataConfig, x: Tensor, scale: float) -> PatchZCA:
    k = cfg.zca_patch
    if x.dim() != 4:
        raise ConfigError(f"data.zca_patch {k}: patch whitening needs images (C, H, W), the inputs have "
                          f"shape {tuple(x.shape[1:])}; use data.zca_patch 0 (whole inputs)")
    c, h, w = x.shape[1:]
    if k > min(h, w):
        raise ConfigError(f"data.zca_patch {k}: larger than the {h}x{w} images; use at most {min(h, w)}")
    mean, cov = mean_and_covariance(patch_rows(x, k, scale))
    whiten = zca_matrix(cov, cfg.zca_epsilon)
    params = {"epsilon": cfg.zca_epsilon, "patch": k}
    return PatchZCA(whiten.reshape(-1, c, k, k), -(whiten @ mean), params)


# ---------------------------------------------------------------------- the record
def normalize_record(bundle: DataBundle) -> dict:
    """``data.json``'s ``normalize``: the bundle's mode, its fitted parameters and the shape
    the model receives (per-channel statistics stay in the record's ``mean``/``std``)."""
    module = bundle.normalizer
    if module is not None:
        mode, params = module.mode, module.params
    else:
        mode, params = ("per_channel" if bundle.mean is not None else "none"), {}
    return {"mode": mode, **params, "output_shape": list(bundle.model_input_shape)}


def normalizer_from(record: dict, tensors: dict[str, Tensor]) -> Optional[nn.Module]:
    """The module a run stored (``data.json``'s ``normalize`` + ``normalize.safetensors``)."""
    mode = record.get("mode", "per_channel")
    params = {k: v for k, v in record.items() if k not in ("mode", "output_shape")}
    if mode not in FITTED:
        return None
    if mode == "mean_image":
        return MeanImage(tensors["mean"][0])
    if mode == "zca" and params.get("patch"):
        return PatchZCA(tensors["weight"], tensors["bias"], params)
    return FlatLinear(mode, tensors["mean"], tensors["matrix"], tuple(record["output_shape"]), params)


def needs_tensors(record: dict) -> bool:
    """Whether a ``data.json`` record's mode has fitted tensors (beyond its mean/std)."""
    return (record.get("normalize") or {}).get("mode", "per_channel") in FITTED


__all__ = ["FITTED", "FlatLinear", "MODES", "MeanImage", "PatchZCA", "fit_normalizer", "needs_tensors",
           "normalize_record", "normalizer_from"]
