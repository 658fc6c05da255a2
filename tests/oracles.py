"""Independent references for the inference tests: dense joint Gaussians in float64."""

from __future__ import annotations

import numpy as np
import torch

from rpgssm_env.model.gaussian import symmetrize


def random_spd(K: int, gen: torch.Generator, scale: float = 1.0, batch: tuple = ()) -> torch.Tensor:
    """A well-conditioned random SPD matrix (*batch, K, K) in float64."""
    M = torch.randn(*batch, K, K, generator=gen, dtype=torch.float64)
    return symmetrize(scale * (M @ M.mT / K + 0.5 * torch.eye(K, dtype=torch.float64)))


def random_stable(
    K: int, gen: torch.Generator, smax: float = 0.9, batch: tuple = ()
) -> torch.Tensor:
    """A random matrix with largest singular value ``smax``."""
    M = torch.randn(*batch, K, K, generator=gen, dtype=torch.float64)
    return smax * M / torch.linalg.matrix_norm(M, ord=2)[..., None, None]


def dense_posterior(m1, Q1, A, b, Q, precision, pwm):
    """Brute-force posterior of one sequence: build the KT x KT joint precision of the prior chain
    (block tridiagonal), add blockdiag(Lam_t) and h_t, and invert it.

    Shapes (float64, one sequence): m1 (K,), Q1 (K,K), A (T-1,K,K), b (T-1,K), Q (K,K),
    precision (T,K,K), pwm (T,K). Returns the means (T,K) and the full covariance (TK, TK).
    """
    T, K = pwm.shape
    n = T * K
    J = np.zeros((n, n))
    hvec = np.zeros(n)
    Q1i = np.linalg.inv(Q1)
    Qi = np.linalg.inv(Q)
    J[:K, :K] += Q1i
    hvec[:K] += Q1i @ m1
    for t in range(T - 1):
        i, j = slice(t * K, (t + 1) * K), slice((t + 1) * K, (t + 2) * K)
        At, bt = A[t], b[t]
        # -1/2 (z_j - A z_i - b)^T Qi (z_j - A z_i - b)
        J[j, j] += Qi
        J[i, i] += At.T @ Qi @ At
        J[i, j] -= At.T @ Qi
        J[j, i] -= Qi @ At
        hvec[j] += Qi @ bt
        hvec[i] -= At.T @ Qi @ bt
    for t in range(T):
        s = slice(t * K, (t + 1) * K)
        J[s, s] += precision[t]
        hvec[s] += pwm[t]
    cov = np.linalg.inv(J)
    mean = cov @ hvec
    return mean.reshape(T, K), cov


def random_problem(B: int, T: int, K: int, seed: int, *, varying: bool = True, dtype=torch.float64):
    """Random time-varying chain and recognition potentials for the oracle tests."""
    gen = torch.Generator().manual_seed(seed)
    m1 = torch.randn(B, K, generator=gen, dtype=torch.float64)
    Q1 = random_spd(K, gen)
    Q = random_spd(K, gen, 0.5)
    if varying:
        A = random_stable(K, gen, 0.95, (B, T - 1))
        b = 0.3 * torch.randn(B, T - 1, K, generator=gen, dtype=torch.float64)
    else:
        A = random_stable(K, gen, 0.95)
        b = 0.3 * torch.randn(K, generator=gen, dtype=torch.float64)
    precision = random_spd(K, gen, 2.0, (B, T))
    pwm = torch.randn(B, T, K, generator=gen, dtype=torch.float64)
    cast = lambda x: x.to(dtype)  # noqa: E731
    return tuple(map(cast, (m1, Q1, A, b, Q, precision, pwm)))
