"""Whitening arithmetic shared by ``data.normalize zca`` and airbench's patch-whitening layer.

Moments are accumulated in float64 over chunks of samples, so a whole training split
never has to be held as float64 at once, and the eigendecomposition is torch's
``linalg.eigh`` of the covariance. We compute on torch instead of scikit-learn because
scikit-learn has no ZCA: ``PCA(whiten=True)`` whitens in the rotated (PCA) basis, has no
epsilon, and needs the whole training matrix as one array (for 2x2 patches of 8,000
CIFAR images that is 7.7 million rows). Measured on 8,000 CIFAR-10 images, the training size of
``studies/preprocess_cifar.py`` (D = 3072, float64, the 2 shared and busy CPU cores of
this project's machine): torch's chunked covariance 10 s + ``eigh`` 170 s; scikit-learn's
``PCA(svd_solver="covariance_eigh")``, the same method on the whole array, 158 s; its
``PCA(svd_solver="full")`` (SVD of the data) 522 s. So the time is the same as
scikit-learn's best solver; what torch buys is the chunking, the epsilon and one code path
with airbench's patch-whitening layer, which fits on the training device.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor


def moments(rows: Iterable[Tensor]) -> tuple[Tensor, Tensor, int]:
    """(sum, sum of outer products, count) of the (n, D) row blocks, in float64."""
    total = outer = None
    count = 0
    for r in rows:
        r = r.to("cpu", torch.float64)
        total = r.sum(0) if total is None else total + r.sum(0)
        outer = r.T @ r if outer is None else outer + r.T @ r
        count += len(r)
    if total is None or count == 0:
        raise ValueError("no samples to compute the covariance from")
    return total, outer, count


def mean_and_covariance(rows: Iterable[Tensor]) -> tuple[Tensor, Tensor]:
    """Mean (D,) and population covariance (D, D) of the row blocks, in float64."""
    total, outer, count = moments(rows)
    mean = total / count
    return mean, outer / count - torch.outer(mean, mean)


def flat_rows(x: Tensor, scale: float, chunk: int = 2048) -> Iterable[Tensor]:
    """``x / scale`` flattened to (n, D) blocks of ``chunk`` samples."""
    for start in range(0, len(x), chunk):
        yield x[start:start + chunk].to("cpu", torch.float64).div_(scale).flatten(1)


def patch_rows(x: Tensor, patch: int, scale: float = 1.0, chunk: int = 256) -> Iterable[Tensor]:
    """Every ``patch`` x ``patch`` patch (stride 1) of (N, C, H, W) images as rows ordered
    (channel, row, column): the layout of a conv weight (out, C, patch, patch)."""
    c = x.shape[1]
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].to("cpu", torch.float64).div_(scale)
        yield part.unfold(2, patch, 1).unfold(3, patch, 1).transpose(1, 3).reshape(-1, c * patch * patch)


def eigen(cov: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (largest first, clamped at 0) and eigenvectors as rows, of a covariance."""
    values, vectors = torch.linalg.eigh(cov)
    return values.flip(0).clamp_min(0), vectors.T.flip(0)


def zca_matrix(cov: Tensor, eps: float) -> Tensor:
    """W = U diag(1 / sqrt(lambda + eps)) U^T: ZCA whitening, the whitening closest to the
    identity map (inputs keep their look); ``eps`` damps the directions of tiny variance
    (mostly noise), which 1/sqrt(lambda) would otherwise blow up."""
    values, vectors = eigen(cov)
    return vectors.T @ (vectors / torch.sqrt(values + eps).unsqueeze(1))


def pca_whitening_rows(cov: Tensor, eps: float) -> Tensor:
    """Rows u_i / sqrt(lambda_i + eps), largest variance first: PCA whitening (a rotation
    into the eigenbasis, then unit variance per component)."""
    values, vectors = eigen(cov)
    return vectors / torch.sqrt(values + eps).unsqueeze(1)


__all__ = ["eigen", "flat_rows", "mean_and_covariance", "moments", "patch_rows", "pca_whitening_rows",
           "zca_matrix"]
