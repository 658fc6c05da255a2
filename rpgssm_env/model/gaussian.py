"""Batched Gaussian algebra in natural parameters, through Cholesky factorisations.

A Gaussian in natural parameters is ``eta = (Lam, h)``: precision ``Lam`` (..., K, K) and
precision-weighted mean ``h = Lam mu`` (..., K). Its density is
``exp(<eta, T(z)> - A(eta))`` with sufficient statistic ``T(z) = (-1/2 z z^T, z)``.
Adding natural parameters multiplies densities.

Every function broadcasts over leading batch dimensions and works in float32 and float64, on any
device, and is differentiable. No explicit matrix inverse is formed: everything goes through
Cholesky factorisations and triangular solves.

The log-normaliser drops the ``K/2 log(2 pi)`` constant (it cancels in every difference we use):
``A(Lam, h) = 1/2 h^T Lam^{-1} h - 1/2 log det Lam``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "chol_logdet",
    "cholesky",
    "expected_stats_inner",
    "gaussian_entropy",
    "kl_moment",
    "kl_natural",
    "log_normalizer",
    "moment_to_natural",
    "natural_to_moment",
    "psd_inverse",
    "symmetrize",
]


def symmetrize(M: Tensor) -> Tensor:
    """Return ``(M + M^T) / 2`` over the last two dimensions."""
    return 0.5 * (M + M.transpose(-1, -2))


def cholesky(M: Tensor, jitter: float = 0.0) -> Tensor:
    """Lower Cholesky factor of a symmetric positive-definite matrix (..., K, K).

    ``jitter`` (added to the diagonal) guards against float32 round-off on nearly singular
    covariances. Raises ``torch.linalg.LinAlgError`` when the matrix is not positive definite.
    """
    M = symmetrize(M)
    if jitter:
        M = M + jitter * torch.eye(M.shape[-1], dtype=M.dtype, device=M.device)
    return torch.linalg.cholesky(M)


def chol_logdet(L: Tensor) -> Tensor:
    """``log det(L L^T)`` from a lower Cholesky factor (..., K, K) -> (...)."""
    return 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)


def psd_inverse(M: Tensor, jitter: float = 0.0) -> Tensor:
    """Inverse of a symmetric positive-definite matrix through its Cholesky factor."""
    return symmetrize(torch.cholesky_inverse(cholesky(M, jitter)))


def log_normalizer(Lam: Tensor, h: Tensor) -> Tensor:
    """Log-normaliser ``A(Lam, h) = 1/2 h^T Lam^{-1} h - 1/2 log det Lam`` (no 2 pi term).

    Args:
        Lam: precision, (..., K, K), positive definite.
        h: precision-weighted mean, (..., K).

    Returns:
        (...) tensor.
    """
    L = cholesky(Lam)
    w = torch.linalg.solve_triangular(L, h.unsqueeze(-1), upper=False).squeeze(-1)
    return 0.5 * (w * w).sum(-1) - torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)


def natural_to_moment(Lam: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """Convert ``(Lam, h)`` to mean (..., K) and covariance (..., K, K)."""
    L = cholesky(Lam)
    mu = torch.cholesky_solve(h.unsqueeze(-1), L).squeeze(-1)
    Sig = symmetrize(torch.cholesky_inverse(L))
    return mu, Sig


def moment_to_natural(mu: Tensor, Sig: Tensor, jitter: float = 0.0) -> tuple[Tensor, Tensor]:
    """Convert mean (..., K) and covariance (..., K, K) to ``(Lam, h)``."""
    L = cholesky(Sig, jitter)
    Lam = symmetrize(torch.cholesky_inverse(L))
    h = torch.cholesky_solve(mu.unsqueeze(-1), L).squeeze(-1)
    return Lam, h


def expected_stats_inner(mu: Tensor, Sig: Tensor, Lam2: Tensor, h2: Tensor) -> Tensor:
    """``<E_q[T(z)], eta2> = mu^T h2 - 1/2 tr((Sig + mu mu^T) Lam2)`` for q = N(mu, Sig).

    Shapes: mu (..., K), Sig (..., K, K), Lam2 (..., K, K), h2 (..., K) -> (...).
    """
    second = Sig + mu.unsqueeze(-1) * mu.unsqueeze(-2)
    return (mu * h2).sum(-1) - 0.5 * (second * Lam2).sum((-1, -2))


def kl_natural(Lam1: Tensor, h1: Tensor, Lam2: Tensor, h2: Tensor) -> Tensor:
    """``KL(eta1 || eta2) = <E_eta1[T], eta1 - eta2> - A(eta1) + A(eta2)`` (section 4.2).

    Shapes: Lam (..., K, K), h (..., K) -> (...).
    """
    mu1, Sig1 = natural_to_moment(Lam1, h1)
    return (
        expected_stats_inner(mu1, Sig1, Lam1 - Lam2, h1 - h2)
        - log_normalizer(Lam1, h1)
        + log_normalizer(Lam2, h2)
    )


def kl_moment(mu1: Tensor, Sig1: Tensor, mu2: Tensor, Sig2: Tensor) -> Tensor:
    """Textbook ``KL(N(mu1, Sig1) || N(mu2, Sig2))``; shapes (..., K), (..., K, K) -> (...)."""
    K = mu1.shape[-1]
    L2 = cholesky(Sig2)
    L1 = cholesky(Sig1)
    M = torch.linalg.solve_triangular(L2, L1, upper=False)
    d = torch.linalg.solve_triangular(L2, (mu2 - mu1).unsqueeze(-1), upper=False).squeeze(-1)
    trace = (M * M).sum((-1, -2))
    return 0.5 * (trace + (d * d).sum(-1) - K + chol_logdet(L2) - chol_logdet(L1))


def gaussian_entropy(Sig: Tensor) -> Tensor:
    """Differential entropy ``1/2 log|2 pi e Sig|`` of N(., Sig) (..., K, K) -> (...)."""
    K = Sig.shape[-1]
    return 0.5 * (chol_logdet(cholesky(Sig)) + K * math.log(2 * math.pi * math.e))
