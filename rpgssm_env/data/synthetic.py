"""Synthetic data from a known linear-Gaussian state space model.

Used by the linear-Gaussian recovery test (spec section 8, oracle 11) and by ``rpgssm check``:
with linear emissions, a correct RP-GSSM recovers the latent state up to a linear map.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rotation_in_random_plane", "sample_lgssm"]


def rotation_in_random_plane(
    K: int, rng: np.random.Generator, radius: float = 0.95, angle: float = np.pi / 5
) -> np.ndarray:
    """``A = radius R``, with ``R`` the rotation by ``angle`` in a random 2-plane of R^K (the
    identity on its orthogonal complement): every eigenvalue has modulus ``radius``; two are
    ``radius exp(+-i angle)``."""
    U, _ = np.linalg.qr(rng.normal(size=(K, K)))
    D = radius * np.eye(K)
    c, s = np.cos(angle), np.sin(angle)
    D[:2, :2] = radius * np.array([[c, -s], [s, c]])
    return U @ D @ U.T


def sample_lgssm(
    N: int, T: int, K: int, D: int, rng: np.random.Generator, noise: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N sequences of T steps: z_1 ~ N(0, I), z_{t+1} = A z_t + N(0, I - A A^T),
    x_t = C z_t + d + noise N(0, I).

    Returns:
        ``x`` (N, T, D) float32, ``z`` (N, T, K) float32 and the true ``A`` (K, K).
    """
    A = rotation_in_random_plane(K, rng)
    Q = np.eye(K) - A @ A.T
    LQ = np.linalg.cholesky(Q + 1e-12 * np.eye(K))
    z = np.empty((N, T, K))
    z[:, 0] = rng.normal(size=(N, K))
    for t in range(T - 1):
        z[:, t + 1] = z[:, t] @ A.T + rng.normal(size=(N, K)) @ LQ.T
    C = rng.normal(size=(D, K)) / np.sqrt(K)
    d = rng.normal(size=D)
    x = z @ C.T + d + noise * rng.normal(size=(N, T, D))
    return x.astype(np.float32), z.astype(np.float32), A
