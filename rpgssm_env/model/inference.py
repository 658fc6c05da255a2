r"""Exact posterior inference in the RP-GSSM: Kalman filtering and RTS smoothing.

The posterior of the RP-GSSM is that of a linear-Gaussian state space model whose "emissions" are
Gaussian potentials ``g_t(z) = exp(h_t^T z - 1/2 z^T Lam_t z)`` produced by the recognition
networks (spec, section 2)::

    p(z_1) = N(m_1, Q_1),   p(z_{t+1} | z_t) = N(A_t z_t + b_t, Q),   q(z) ∝ p(z) prod_t g_t(z_t)

The filter works in information form, so a frame with no observation (``Lam = 0, h = 0``) needs
no special case: the update leaves the prediction unchanged. Every linear solve goes through a
Cholesky factor; no matrix inverse is formed.

Two smoothers compute the same posterior:

* :func:`kalman_smoother`: the sequential filter + Rauch-Tung-Striebel smoother, ``O(T)`` steps.
* :func:`parallel_kalman_smoother`: the associative-scan form (Särkkä and García-Fernández,
  2021), ``O(log T)`` sequential depth, for long sequences on a GPU.

:func:`filter_predict` and :func:`filter_update` are the one prediction and one update used by the
batch filter here and by the online filter of the latent-state wrappers, so both report the same
filtered beliefs.

Shapes: ``B`` sequences, ``T`` steps, latent dimension ``K``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from rpgssm_env.model.gaussian import cholesky, symmetrize

__all__ = [
    "FilterResult",
    "PriorChain",
    "SmootherResult",
    "associative_scan",
    "filter_predict",
    "filter_step",
    "filter_update",
    "kalman_filter",
    "kalman_smoother",
    "parallel_kalman_smoother",
    "prior_marginals",
]


class PriorChain(NamedTuple):
    """A linear-Gaussian latent chain, broadcastable over the batch.

    Attributes:
        m1: initial mean, (K,) or (B, K).
        Q1: initial covariance, (K, K).
        A: transition matrices, (K, K) or (B, T-1, K, K); ``A[:, i]`` maps ``z_i`` to ``z_{i+1}``.
        b: transition offsets, (K,) or (B, T-1, K).
        Q: transition noise covariance, (K, K).
    """

    m1: Tensor
    Q1: Tensor
    A: Tensor
    b: Tensor
    Q: Tensor


class FilterResult(NamedTuple):
    """Output of :func:`kalman_filter`.

    Attributes:
        filtered_means: (B, T, K), ``E[z_t | x_{1:t}]``.
        filtered_covs: (B, T, K, K).
        predicted_means: (B, T, K), ``E[z_t | x_{1:t-1}]`` (``m_1`` at t = 1).
        predicted_covs: (B, T, K, K).
    """

    filtered_means: Tensor
    filtered_covs: Tensor
    predicted_means: Tensor
    predicted_covs: Tensor


class SmootherResult(NamedTuple):
    """Output of :func:`kalman_smoother`.

    Attributes:
        means: smoothed means, (B, T, K).
        covs: smoothed covariances, (B, T, K, K).
        cross_covs: ``Cov_q(z_{t+1}, z_t)``, (B, T-1, K, K).
        filtered_means: (B, T, K).
        filtered_covs: (B, T, K, K).
        predicted_means: (B, T, K).
        predicted_covs: (B, T, K, K).
    """

    means: Tensor
    covs: Tensor
    cross_covs: Tensor
    filtered_means: Tensor
    filtered_covs: Tensor
    predicted_means: Tensor
    predicted_covs: Tensor


# ----------------------------------------------------------------------------------------------
# Input handling


def _check_and_broadcast(
    m1: Tensor,
    Q1: Tensor,
    A: Tensor,
    b: Tensor,
    Q: Tensor,
    precision: Tensor,
    pwm: Tensor,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Validate shapes and return m1 (B,K), Q1 (B,K,K), A (B,T-1,K,K), b (B,T-1,K), Q (B,K,K),
    and the masked precision (B,T,K,K) and pwm (B,T,K)."""
    if precision.ndim != 4 or precision.shape[-1] != precision.shape[-2]:
        raise ValueError(f"precision must have shape (B, T, K, K), got {tuple(precision.shape)}")
    B, T, K, _ = precision.shape
    if pwm.shape != (B, T, K):
        raise ValueError(f"pwm must have shape (B, T, K) = {(B, T, K)}, got {tuple(pwm.shape)}")
    if m1.shape not in ((K,), (B, K)):
        raise ValueError(f"m1 must have shape (K,) or (B, K) = {(B, K)}, got {tuple(m1.shape)}")
    for name, M in (("Q1", Q1), ("Q", Q)):
        if M.shape not in ((K, K), (B, K, K)):
            raise ValueError(f"{name} must have shape (K, K) = {(K, K)}, got {tuple(M.shape)}")
    if A.shape not in ((K, K), (B, T - 1, K, K)):
        raise ValueError(
            f"A must have shape (K, K) or (B, T-1, K, K) = {(B, T - 1, K, K)}, got {tuple(A.shape)}"
        )
    if b.shape not in ((K,), (B, T - 1, K)):
        raise ValueError(
            f"b must have shape (K,) or (B, T-1, K) = {(B, T - 1, K)}, got {tuple(b.shape)}"
        )
    if mask is not None:
        if mask.shape != (B, T):
            raise ValueError(f"mask must have shape (B, T) = {(B, T)}, got {tuple(mask.shape)}")
        keep = mask.to(dtype=precision.dtype)
        precision = precision * keep[..., None, None]
        pwm = pwm * keep[..., None]
    m1 = m1.expand(B, K)
    Q1 = Q1.expand(B, K, K)
    Q = Q.expand(B, K, K)
    A = A.expand(B, max(T - 1, 0), K, K)
    b = b.expand(B, max(T - 1, 0), K)
    return m1, Q1, A, b, Q, precision, pwm


# ----------------------------------------------------------------------------------------------
# One prediction, one update


def filter_predict(
    mean: Tensor, cov: Tensor, A: Tensor, b: Tensor, Q: Tensor
) -> tuple[Tensor, Tensor]:
    """Prediction ``mu- = A mu + b``, ``P- = A P A^T + Q``.

    Args:
        mean: (..., K). cov: (..., K, K). A: (..., K, K). b: (..., K). Q: (..., K, K).

    Returns:
        The predicted mean (..., K) and covariance (..., K, K).
    """
    pred_mean = (A @ mean.unsqueeze(-1)).squeeze(-1) + b
    pred_cov = symmetrize(A @ cov @ A.transpose(-1, -2) + Q)
    return pred_mean, pred_cov


def filter_update(
    pred_mean: Tensor, pred_cov: Tensor, precision: Tensor, pwm: Tensor
) -> tuple[Tensor, Tensor]:
    """Information-form update with a Gaussian potential ``(Lam, h)``.

    ``P = (P-^{-1} + Lam)^{-1}`` and ``mu = P (P-^{-1} mu- + h) = mu- + P (h - Lam mu-)``,
    computed as ``P = L (I + L^T Lam L)^{-1} L^T`` with ``P- = L L^T``: the matrix factorised has
    eigenvalues of at least 1, so the update is well conditioned even for very precise frames, and
    ``Lam = 0`` returns the prediction unchanged.

    Args:
        pred_mean: (..., K). pred_cov: (..., K, K), positive definite.
        precision: ``Lam``, (..., K, K), positive semi-definite. pwm: ``h``, (..., K).

    Returns:
        The filtered mean (..., K) and covariance (..., K, K).
    """
    K = pred_mean.shape[-1]
    L = cholesky(pred_cov)
    eye = torch.eye(K, dtype=pred_cov.dtype, device=pred_cov.device)
    S = eye + L.transpose(-1, -2) @ precision @ L
    Ls = cholesky(S)
    W = torch.linalg.solve_triangular(Ls, L.transpose(-1, -2), upper=False)
    cov = symmetrize(W.transpose(-1, -2) @ W)
    innovation = pwm - (precision @ pred_mean.unsqueeze(-1)).squeeze(-1)
    mean = pred_mean + (cov @ innovation.unsqueeze(-1)).squeeze(-1)
    return mean, cov


def filter_step(
    mean: Tensor,
    cov: Tensor,
    A: Tensor,
    b: Tensor,
    Q: Tensor,
    precision: Tensor,
    pwm: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One online step: predict with ``(A, b, Q)``, then update with the frame's ``(Lam, h)``.

    Returns:
        ``(mean, cov, pred_mean, pred_cov)``: the new filtered belief and the prediction.
    """
    pred_mean, pred_cov = filter_predict(mean, cov, A, b, Q)
    mean, cov = filter_update(pred_mean, pred_cov, precision, pwm)
    return mean, cov, pred_mean, pred_cov


# ----------------------------------------------------------------------------------------------
# Sequential filter and smoother


def kalman_filter(
    m1: Tensor,
    Q1: Tensor,
    A: Tensor,
    b: Tensor,
    Q: Tensor,
    precision: Tensor,
    pwm: Tensor,
    mask: Tensor | None = None,
) -> FilterResult:
    """Causal (filtered) marginals of the posterior, sequentially in time.

    Args:
        m1: (K,) or (B, K). Q1: (K, K). A: (K, K) or (B, T-1, K, K). b: (K,) or (B, T-1, K).
        Q: (K, K). precision: (B, T, K, K), the summed recognition precisions ``Lam_t``.
        pwm: (B, T, K), the summed precision-weighted means ``h_t``.
        mask: (B, T) bool, ``False`` where a step has no observation.

    Returns:
        A :class:`FilterResult`.
    """
    m1, Q1, A, b, Q, precision, pwm = _check_and_broadcast(m1, Q1, A, b, Q, precision, pwm, mask)
    T = precision.shape[1]
    pm, pc = m1, Q1
    fmeans, fcovs, pmeans, pcovs = [], [], [], []
    for t in range(T):
        if t > 0:
            pm, pc = filter_predict(fmeans[-1], fcovs[-1], A[:, t - 1], b[:, t - 1], Q)
        mean, cov = filter_update(pm, pc, precision[:, t], pwm[:, t])
        fmeans.append(mean)
        fcovs.append(cov)
        pmeans.append(pm)
        pcovs.append(pc)
    return FilterResult(
        torch.stack(fmeans, 1), torch.stack(fcovs, 1), torch.stack(pmeans, 1), torch.stack(pcovs, 1)
    )


def _smoother_gains(filtered_covs: Tensor, predicted_covs: Tensor, A: Tensor) -> Tensor:
    """RTS gains ``G_t = P_t A_t^T (P-_{t+1})^{-1}``, (B, T-1, K, K)."""
    Lp = cholesky(predicted_covs[:, 1:])
    # G^T = (P-)^{-1} A P  (P- and P symmetric)
    Gt = torch.cholesky_solve(A @ filtered_covs[:, :-1], Lp)
    return Gt.transpose(-1, -2)


def kalman_smoother(
    m1: Tensor,
    Q1: Tensor,
    A: Tensor,
    b: Tensor,
    Q: Tensor,
    precision: Tensor,
    pwm: Tensor,
    mask: Tensor | None = None,
    *,
    parallel: bool = False,
) -> SmootherResult:
    """Exact posterior marginals and cross-covariances (filter + RTS smoother).

    Args:
        m1: (K,) or (B, K). Q1: (K, K). A: (K, K) or (B, T-1, K, K). b: (K,) or (B, T-1, K).
        Q: (K, K). precision: (B, T, K, K). pwm: (B, T, K).
        mask: (B, T) bool, ``False`` where a step has no observation (its potential is dropped).
        parallel: use the associative-scan form (:func:`parallel_kalman_smoother`).

    Returns:
        A :class:`SmootherResult` with smoothed ``means`` (B, T, K), ``covs`` (B, T, K, K),
        ``cross_covs`` (B, T-1, K, K) = ``Cov(z_{t+1}, z_t)``, and the filter's outputs.
    """
    if parallel:
        return parallel_kalman_smoother(m1, Q1, A, b, Q, precision, pwm, mask)
    filt = kalman_filter(m1, Q1, A, b, Q, precision, pwm, mask)
    B, T, K = filt.filtered_means.shape
    if T == 1:
        empty = filt.filtered_covs.new_zeros(B, 0, K, K)
        return SmootherResult(filt.filtered_means, filt.filtered_covs, empty, *filt)
    A = A.expand(B, T - 1, K, K)
    G = _smoother_gains(filt.filtered_covs, filt.predicted_covs, A)
    means = [filt.filtered_means[:, -1]]
    covs = [filt.filtered_covs[:, -1]]
    for t in range(T - 2, -1, -1):
        Gt = G[:, t]
        m = filt.filtered_means[:, t] + (
            Gt @ (means[-1] - filt.predicted_means[:, t + 1]).unsqueeze(-1)
        ).squeeze(-1)
        S = filt.filtered_covs[:, t] + Gt @ (covs[-1] - filt.predicted_covs[:, t + 1]) @ Gt.mT
        means.append(m)
        covs.append(symmetrize(S))
    means_t = torch.stack(means[::-1], 1)
    covs_t = torch.stack(covs[::-1], 1)
    cross = covs_t[:, 1:] @ G.transpose(-1, -2)
    return SmootherResult(means_t, covs_t, cross, *filt)


# ----------------------------------------------------------------------------------------------
# Parallel (associative-scan) smoother


Elements = tuple[Tensor, ...]


def associative_scan(
    fn: Callable[[Elements, Elements], Elements], elems: Sequence[Tensor], dim: int = 1
) -> Elements:
    """Inclusive scan of an associative ``fn`` along ``dim`` in ``O(log n)`` sequential depth.

    ``fn(a, b)`` combines an earlier element ``a`` with a later element ``b``; both are tuples of
    tensors sliced along ``dim``. Returns ``(e_1, fn(e_1, e_2), fn(fn(e_1, e_2), e_3), ...)``.
    (The odd/even recursion of Blelloch, as in ``jax.lax.associative_scan``.)
    """
    elems = tuple(elems)
    n = elems[0].shape[dim]
    if n < 2:
        return elems

    def sl(xs: Elements, start: int, stop: int | None = None, step: int = 1) -> Elements:
        return tuple(x[_index(dim, start, stop, step)] for x in xs)

    reduced = fn(sl(elems, 0, -1, 2), sl(elems, 1, None, 2))
    odd = associative_scan(fn, reduced, dim)
    if n % 2 == 0:
        even = fn(sl(odd, 0, -1), sl(elems, 2, None, 2))
    else:
        even = fn(odd, sl(elems, 2, None, 2))
    even = tuple(torch.cat([e0, e], dim) for e0, e in zip(sl(elems, 0, 1), even))
    return tuple(_interleave(e, o, dim) for e, o in zip(even, odd))


def _index(dim: int, start: int, stop: int | None, step: int) -> tuple:
    return (slice(None),) * dim + (slice(start, stop, step),)


def _interleave(even: Tensor, odd: Tensor, dim: int) -> Tensor:
    """Interleave ``even[0], odd[0], even[1], odd[1], ...`` along ``dim``."""
    n = even.shape[dim] + odd.shape[dim]
    if even.shape[dim] > odd.shape[dim]:
        pad = even.narrow(dim, 0, 1)
        odd = torch.cat([odd, pad], dim)
    stacked = torch.stack([even, odd], dim + 1)
    shape = list(even.shape)
    shape[dim] = 2 * even.shape[dim]
    return stacked.reshape(shape).narrow(dim, 0, n)


def _filtering_combine(a: Elements, b: Elements) -> Elements:
    """Combine filtering elements ``(E, e, C, eta, J)``: ``a`` earlier, ``b`` later."""
    Ei, ei, Ci, etai, Ji = a
    Ej, ej, Cj, etaj, Jj = b
    K = Ei.shape[-1]
    eye = torch.eye(K, dtype=Ei.dtype, device=Ei.device)
    # M = (I + C_i J_j)^{-1}; E_j M = (M^T E_j^T)^T = solve((I + J_j C_i), E_j^T)^T
    EjM = torch.linalg.solve(eye + Jj @ Ci, Ej.mT).mT
    E = EjM @ Ei
    e = (EjM @ (ei + (Ci @ etaj.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)).squeeze(-1) + ej
    C = symmetrize(EjM @ Ci @ Ej.mT + Cj)
    # N = (I + J_j C_i)^{-1}; E_i^T N = solve((I + C_i J_j), E_i)^T
    EiTN = torch.linalg.solve(eye + Ci @ Jj, Ei).mT
    eta = (EiTN @ (etaj - (Jj @ ei.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)).squeeze(-1) + etai
    J = symmetrize(EiTN @ Jj @ Ei + Ji)
    return E, e, C, eta, J


def _smoothing_combine(a: Elements, b: Elements) -> Elements:
    """Combine smoothing elements ``(G, g, L)`` in reversed time: ``a`` is the later time step's
    composition, ``b`` the earlier step."""
    Ga, ga, La = a
    Gb, gb, Lb = b
    G = Gb @ Ga
    g = (Gb @ ga.unsqueeze(-1)).squeeze(-1) + gb
    L = symmetrize(Gb @ La @ Gb.mT + Lb)
    return G, g, L


def parallel_kalman_smoother(
    m1: Tensor,
    Q1: Tensor,
    A: Tensor,
    b: Tensor,
    Q: Tensor,
    precision: Tensor,
    pwm: Tensor,
    mask: Tensor | None = None,
) -> SmootherResult:
    """The posterior of :func:`kalman_smoother` by associative scans over time.

    Filtering elements use the information form, so frames with zero precision need no infinite
    observation noise: the element for ``t >= 2`` is the update of the conditional prior
    ``N(F z + u, Q)`` with ``(Lam_t, h_t)``, ``E = (I - C Lam) F``, ``e`` and ``C`` its mean and
    covariance, and ``(eta, J)`` the potential on ``z_{t-1}``: ``J = F^T Lx F``,
    ``eta = F^T (hx - Lx u)`` with ``Lx = Lam - Lam C Lam`` and ``hx = h - Lam C h``.

    Same arguments and result as :func:`kalman_smoother`.
    """
    m1, Q1, A, b, Q, precision, pwm = _check_and_broadcast(m1, Q1, A, b, Q, precision, pwm, mask)
    B, T, K, _ = precision.shape
    # Filtering elements ------------------------------------------------------------------
    e1, C1 = filter_update(m1, Q1, precision[:, 0], pwm[:, 0])
    Lam, h = precision[:, 1:], pwm[:, 1:]
    Qe = Q.unsqueeze(1).expand(B, T - 1, K, K)
    e_rest, C_rest = filter_update(b, Qe, Lam, h)
    E_rest = A - C_rest @ Lam @ A
    LamC = Lam @ C_rest
    Lx = symmetrize(Lam - LamC @ Lam)
    hx = h - (LamC @ h.unsqueeze(-1)).squeeze(-1)
    J_rest = symmetrize(A.mT @ Lx @ A)
    eta_rest = (A.mT @ (hx - (Lx @ b.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)).squeeze(-1)
    zeros_KK = C1.new_zeros(B, 1, K, K)
    zeros_K = e1.new_zeros(B, 1, K)
    elems = (
        torch.cat([zeros_KK, E_rest], 1),
        torch.cat([e1.unsqueeze(1), e_rest], 1),
        torch.cat([C1.unsqueeze(1), C_rest], 1),
        torch.cat([zeros_K, eta_rest], 1),
        torch.cat([zeros_KK, J_rest], 1),
    )
    _, fmeans, fcovs, _, _ = associative_scan(_filtering_combine, elems, dim=1)
    # Predictions (for the result and the gains) ------------------------------------------
    pm_rest, pc_rest = filter_predict(fmeans[:, :-1], fcovs[:, :-1], A, b, Qe)
    pmeans = torch.cat([m1.unsqueeze(1), pm_rest], 1)
    pcovs = torch.cat([Q1.unsqueeze(1), pc_rest], 1)
    if T == 1:
        return SmootherResult(
            fmeans, fcovs, fcovs.new_zeros(B, 0, K, K), fmeans, fcovs, pmeans, pcovs
        )
    # Smoothing elements -------------------------------------------------------------------
    G = _smoother_gains(fcovs, pcovs, A)
    g = fmeans[:, :-1] - (G @ pm_rest.unsqueeze(-1)).squeeze(-1)
    Ls = symmetrize(fcovs[:, :-1] - G @ A @ fcovs[:, :-1])
    s_elems = (
        torch.cat([G, zeros_KK], 1).flip(1),
        torch.cat([g, fmeans[:, -1:]], 1).flip(1),
        torch.cat([Ls, fcovs[:, -1:]], 1).flip(1),
    )
    _, smeans, scovs = associative_scan(_smoothing_combine, s_elems, dim=1)
    smeans, scovs = smeans.flip(1), scovs.flip(1)
    cross = scovs[:, 1:] @ G.mT
    return SmootherResult(smeans, scovs, cross, fmeans, fcovs, pmeans, pcovs)


# ----------------------------------------------------------------------------------------------
# Prior marginals


def prior_marginals(chain: PriorChain, T: int, batch: int) -> tuple[Tensor, Tensor]:
    """Marginals of the prior chain: ``mu_{t+1} = A_t mu_t + b_t``, ``Sig_{t+1} = A_t Sig_t A_t^T
    + Q`` (spec 1.3).

    Args:
        chain: the :class:`PriorChain` (A and b shared or per sequence).
        T: number of steps.
        batch: number of sequences ``B``.

    Returns:
        means (B, T, K) and covariances (B, T, K, K).
    """
    K = chain.Q.shape[-1]
    m = chain.m1.expand(batch, K)
    S = chain.Q1.expand(batch, K, K)
    A = chain.A.expand(batch, max(T - 1, 0), K, K)
    b = chain.b.expand(batch, max(T - 1, 0), K)
    Q = chain.Q.expand(batch, K, K)
    means, covs = [m], [S]
    for t in range(T - 1):
        m, S = filter_predict(m, S, A[:, t], b[:, t], Q)
        means.append(m)
        covs.append(S)
    return torch.stack(means, 1), torch.stack(covs, 1)
